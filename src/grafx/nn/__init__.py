"""Neural parameter predictors: heads shaped by ``parameter_size()``, a graph encoder, a mix
predictor and its training through the renderer.

Importing :mod:`grafx.nn` loads torch but nothing heavier; the submodules are
:mod:`~grafx.nn.layout` (where each output goes), :mod:`~grafx.nn.bounds` (physical ranges),
:mod:`~grafx.nn.heads`, :mod:`~grafx.nn.features`, :mod:`~grafx.nn.encoder`,
:mod:`~grafx.nn.predictor` (the model and its files) and :mod:`~grafx.nn.train`.
"""

from grafx.nn.bounds import PHYSICAL_RANGES, apply_bounds, parameter_bounds
from grafx.nn.encoder import GraphEncoder
from grafx.nn.features import mix_features
from grafx.nn.heads import PerGraphHead, PerNodeHead, graph_type_counts, node_type_names
from grafx.nn.layout import ParameterLayout
from grafx.nn.predictor import MixPredictor, load_predictor, save_predictor
from grafx.nn.train import TrainConfig, TrainResult, draw_song, train_predictor

__all__ = [
    "PHYSICAL_RANGES",
    "apply_bounds",
    "parameter_bounds",
    "GraphEncoder",
    "mix_features",
    "PerGraphHead",
    "PerNodeHead",
    "graph_type_counts",
    "node_type_names",
    "ParameterLayout",
    "MixPredictor",
    "load_predictor",
    "save_predictor",
    "TrainConfig",
    "TrainResult",
    "draw_song",
    "train_predictor",
]
