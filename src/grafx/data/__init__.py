"""Graph data structures: node configs, the GRAFX graph, its tensor form and batching."""

from grafx.data.configs import NodeConfigs
from grafx.data.tensor import GRAFXTensor

__all__ = ["NodeConfigs", "GRAFXTensor"]
