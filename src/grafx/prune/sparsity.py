"""The sparsity penalty on node gates (defined in :mod:`grafx.gates`, re-exported here)."""

from grafx.gates import SPARSITY_WEIGHT, GateSparsity

__all__ = ["GateSparsity", "SPARSITY_WEIGHT"]
