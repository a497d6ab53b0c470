"""Graph data structures: node configs, the GRAFX graph, its tensor form and batching."""

from grafx.data.batch import batch_grafx
from grafx.data.configs import NodeConfigs
from grafx.data.conversion import convert_to_graph, convert_to_tensor
from grafx.data.graph import GRAFX
from grafx.data.tensor import GRAFXTensor

__all__ = [
    "NodeConfigs",
    "GRAFX",
    "GRAFXTensor",
    "convert_to_tensor",
    "convert_to_graph",
    "batch_grafx",
]
