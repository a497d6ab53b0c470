"""grafx: audio processing graphs in PyTorch."""

__version__ = "0.1.0"
