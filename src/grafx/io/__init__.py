"""Files: graphs, their processors and parameters as versioned JSON documents."""

from grafx.io.graph_file import load_graph, save_graph
from grafx.io.model import GraphModel, load

__all__ = ["save_graph", "load_graph", "load", "GraphModel"]
