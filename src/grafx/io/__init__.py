"""Files: graphs and their parameters as versioned JSON documents."""

from grafx.io.graph_file import load_graph, save_graph

__all__ = ["save_graph", "load_graph"]
