r"""A mix predictor: stems and a target in, a console's parameters out, in one pass.

:class:`MixPredictor` chains :func:`~grafx.nn.features.mix_features` (per stem and per
target), a :class:`~grafx.nn.encoder.GraphEncoder` over the graph and a
:class:`~grafx.nn.heads.PerNodeHead`, whose outputs are added to the neutral console
(:func:`grafx.presets.console_parameters`), so an untrained predictor renders the neutral mix.
One predictor serves any number of tracks and buses of the console it was made for, and a
``batch_grafx`` batch of songs of different sizes at once.

A model file ``PATH`` is two files: ``PATH.json`` (format ``"grafx-predictor"``, version, the
constructor's configuration, including the parameter layout of every type) and
``PATH.safetensors`` (the weights); nothing is unpickled. :func:`load_predictor` refuses
another kind of file, and :meth:`MixPredictor.check_processors` a graph or processor set the
model was not made for, naming the type or key.

Example:
    >>> import torch
    >>> from grafx.presets import build_mixing_console, console_processors
    >>> chain = ["eq", "gain_pan"]
    >>> model = MixPredictor.for_console(chain, hidden=16)
    >>> G, _ = build_mixing_console(2, chain=chain)
    >>> stems = torch.randn(2, 2, 8000, generator=torch.Generator().manual_seed(0))
    >>> params = model.predict(G, console_processors(chain), stems, stems.sum(0), 16000)
    >>> sorted(params), tuple(params["gain_pan"]["log_gain"].shape)
    (['eq', 'gain_pan'], (2, 2))
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from grafx.data import convert_to_tensor
from grafx.errors import ConfigError, GraphFileError
from grafx.io.files import check_header, write_file
from grafx.nn.bounds import fit_start, parameter_bounds
from grafx.nn.encoder import GraphEncoder
from grafx.nn.features import STEM_FEATURES, TARGET_FEATURES, mix_features
from grafx.nn.heads import PerNodeHead, node_type_names
from grafx.nn.layout import UTILITY_TYPES, ParameterLayout
from grafx.presets import DEFAULT_CHAIN, console_parameters, console_processors
from grafx.processors.core.drywet import DRYWET_KEY

__all__ = [
    "MixPredictor",
    "save_predictor",
    "load_predictor",
    "model_paths",
    "resolve_model",
    "model_from_config",
    "FORMAT",
    "SHIPPED_MODELS",
]

FORMAT = "grafx-predictor"
VERSION = 1

#: Largest sizes a model file may ask for (so a file cannot make an unbounded allocation).
MAX_HIDDEN, MAX_ROUNDS, MAX_OUTPUTS = 1024, 16, 1_000_000

#: Models that ship with grafx, by name (``grafx predict --model console``).
SHIPPED_MODELS = ("console",)


class MixPredictor(nn.Module):
    """Features, graph encoder and per-node head.

    Args:
        layout: the parameter layout of the processor types (gates included).
        hidden: size of the node states.
        rounds: message-passing rounds.
        info: JSON-serialisable notes kept in the model file (e.g. how it was trained).
    """

    def __init__(
        self, layout: ParameterLayout, hidden: int = 64, rounds: int = 3, info: dict | None = None
    ):
        super().__init__()
        self.layout = layout
        self.hidden, self.rounds = int(hidden), int(rounds)
        self.info = dict(info or {})
        self.type_names = ["in", "out", "mix", *layout.types]
        self.encoder = GraphEncoder(
            len(self.type_names), STEM_FEATURES, TARGET_FEATURES, self.hidden, self.rounds
        )
        self.head = PerNodeHead(layout, self.hidden)

    @classmethod
    def for_console(cls, chain: Sequence[str] | None = None, **options: Any) -> MixPredictor:
        """A predictor for the console of :func:`grafx.presets.build_mixing_console` with the
        given chain (default: the full strip), every processor gated."""

        processors = console_processors(DEFAULT_CHAIN if chain is None else chain)
        return cls(ParameterLayout.from_processors(processors, gated=list(processors)), **options)

    def config(self) -> dict:
        """The constructor's arguments as JSON-serialisable values."""
        return {
            "layout": self.layout.to_json(),
            "hidden": self.hidden,
            "rounds": self.rounds,
            "info": self.info,
        }

    def check_processors(self, processors: Mapping[str, Any], where: str = "model") -> None:
        """Raise :class:`~grafx.errors.ConfigError` unless ``processors`` have this model's
        parameter layout (same types, keys and shapes), naming the first difference."""
        gated = [
            t
            for t in self.layout.types
            if any(x.path == ("drywet_weight",) for x in self.layout.leaves[t])
        ]
        types = [t for t in processors if t not in UTILITY_TYPES]
        theirs = ParameterLayout.from_processors(processors, gated=set(gated) & set(types))
        self.layout.check_same(theirs, where)

    def type_indices(self, G: Any, where: str = "model") -> Tensor:
        """Type index of each node of ``G`` in this model's vocabulary (node-id order)."""
        names = node_type_names(G)
        unknown = sorted(set(names) - set(self.type_names))
        if unknown:
            raise ConfigError(
                f"{where}: made for the node types {self.layout.types}; the graph has "
                f"{unknown}, which it cannot predict"
            )
        index = {name: i for i, name in enumerate(self.type_names)}
        return torch.tensor([index[n] for n in names], dtype=torch.long)

    def forward(
        self,
        G: Any,
        stem_features: Tensor,
        target_features: Tensor,
        base: Mapping | None = None,
        bounds: Mapping | None = None,
    ) -> dict[str, Any]:
        """Parameters of ``G`` (a graph or a ``batch_grafx`` batch) from precomputed features.

        Args:
            G: the graph; its ``in`` nodes in id order match the rows of ``stem_features``.
            stem_features: ``(K, STEM_FEATURES)`` from :func:`mix_features`.
            target_features: ``(num_graphs, TARGET_FEATURES)``.
            base, bounds: see :meth:`~grafx.nn.heads.PerNodeHead.forward`.
        """

        G_t = convert_to_tensor(G)
        types = self.type_indices(G)
        graph_ids = G_t.graph_ids if G_t.graph_ids is not None else None
        states = self.encoder(types, G_t.edge_indices, stem_features, target_features, graph_ids)
        return self.head(states, node_type_names(G), base=base, bounds=bounds)

    def predict(
        self,
        G: Any,
        processors: Mapping[str, Any],
        stems: Tensor,
        target: Tensor,
        sample_rate: float,
        bounded: bool = False,
        max_seconds: float | None = 30.0,
        start: bool = False,
    ) -> dict[str, Any]:
        """One song's console parameters (no gradient), ready for a render or a fit.

        Args:
            G: the console graph; ``processors`` its ``{type: module}``.
            stems: ``(K, C, L)``, one per ``in`` node in id order; ``target`` ``(C, L)``.
            sample_rate: in Hz.
            bounded: keep every setting in :data:`~grafx.nn.bounds.PHYSICAL_RANGES`.
            max_seconds: features read at most this many seconds (the middle of the song).
            start: the prediction as a fit's starting point (:func:`~grafx.nn.bounds.fit_start`):
                the settings of :data:`~grafx.nn.bounds.PHYSICAL_RANGES` as predicted (kept in
                their ranges), every other parameter neutral, the gates too (the predicted
                gates hedge between on and bypassed, a start a fit is slow to leave).

        Returns:
            ``{type: nested dict of float32 tensors}`` in ``G``'s node order.
        """

        self.check_processors(processors)
        stems, target = _middle(stems, target, sample_rate, max_seconds)
        stem_f, target_f = mix_features(stems, target, sample_rate)
        base = console_parameters(G, processors, sample_rate)
        bounds = None
        if bounded or start:
            bounds = parameter_bounds(processors, self.layout, sample_rate)
        with torch.no_grad():
            out = self(G, stem_f, target_f[None], base=base, bounds=bounds if bounded else None)
            if start and bounds is not None:
                out = self._fit_start(out, base, bounds)
        return _detach(out)

    def _fit_start(self, predicted: dict, base: Mapping, bounds: Mapping) -> dict:
        out = dict(predicted)
        for node_type in self.layout.types:
            if node_type not in predicted or node_type not in bounds:
                continue
            flat = self.layout.join(node_type, predicted[node_type])
            neutral = self.layout.join(node_type, base[node_type]).to(flat)
            gates = torch.zeros(flat.shape[-1], dtype=torch.bool)
            for leaf in self.layout.leaves[node_type]:
                if leaf.path == (DRYWET_KEY,):
                    gates[leaf.offset : leaf.offset + leaf.size] = True
            out[node_type] = self.layout.split(
                node_type, fit_start(flat, neutral, bounds[node_type], gates)
            )
        return out


def _middle(stems: Tensor, target: Tensor, sample_rate: float, seconds: float | None):
    length = stems.shape[-1]
    if seconds is None or length <= seconds * sample_rate:
        return stems, target
    keep = int(seconds * sample_rate)
    start = (length - keep) // 2
    return stems[..., start : start + keep], target[..., start : start + keep]


def _detach(tree: Any) -> Any:
    if isinstance(tree, Tensor):
        return tree.detach().float().contiguous()
    return {k: _detach(v) for k, v in tree.items()}


def model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(PATH.json, PATH.safetensors)`` of a model path given with or without a suffix."""
    path = Path(path)
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return Path(f"{path}.json"), Path(f"{path}.safetensors")


def resolve_model(name: str | os.PathLike) -> Path:
    """The path (without suffix) of a model: a shipped model's name or a file path.

    Raises:
        GraphFileError: neither a shipped model nor an existing ``.json`` model file.
    """
    if str(name) in SHIPPED_MODELS:
        return Path(__file__).resolve().parent / "models" / str(name)
    meta, _ = model_paths(name)
    if not meta.is_file():
        raise GraphFileError(
            f"{meta}: no such model file (give a model path, PATH or PATH.json, or one of the "
            f"shipped models {list(SHIPPED_MODELS)})"
        )
    return meta.with_suffix("")


def save_predictor(model: MixPredictor, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``model`` to ``PATH.json`` and ``PATH.safetensors`` (atomically, JSON last)."""
    from safetensors.torch import save

    meta, weights = model_paths(path)
    meta.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    document = {"format": FORMAT, "version": VERSION, "config": model.config()}
    write_file(weights, save(tensors), "predictor")
    write_file(meta, json.dumps(document, indent=1).encode(), "predictor")
    return meta, weights


def model_from_config(config: Any, where: str | os.PathLike) -> MixPredictor:
    """A new predictor from :meth:`MixPredictor.config`'s dict (``where`` names its file).

    Raises:
        GraphFileError: a malformed configuration or sizes beyond the limits.
    """
    try:
        layout = ParameterLayout(
            {t: [(tuple(p), tuple(s)) for p, s in rows] for t, rows in config["layout"].items()}
        )
        hidden, rounds = int(config["hidden"]), int(config["rounds"])
        if not (1 <= hidden <= MAX_HIDDEN and 0 <= rounds <= MAX_ROUNDS) or (
            sum(layout.sizes.values()) > MAX_OUTPUTS
        ):
            raise ValueError(
                f"sizes out of range (hidden {hidden} <= {MAX_HIDDEN}, rounds {rounds} <= "
                f"{MAX_ROUNDS}, outputs {sum(layout.sizes.values())} <= {MAX_OUTPUTS})"
            )
        return MixPredictor(layout, hidden, rounds, dict(config.get("info", {})))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise GraphFileError(f"{where}: bad predictor configuration: {error!r}") from None


def load_predictor(path: str | os.PathLike) -> MixPredictor:
    """Read a model written by :func:`save_predictor`.

    Raises:
        GraphFileError: a missing file, a file that is not a grafx predictor, or weights that
            do not fit its configuration (the message names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta, weights = model_paths(resolve_model(path))
    try:
        document = json.loads(meta.read_text())
    except (OSError, ValueError) as error:
        raise GraphFileError(f"{meta}: cannot read a grafx predictor: {error}") from None
    check_header(document, meta, FORMAT, VERSION, "predictor")
    model = model_from_config(document.get("config"), meta)
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        raise GraphFileError(f"{weights}: cannot read predictor weights: {error}") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0:2]
        raise GraphFileError(
            f"{weights}: the weights do not fit the configuration in {meta.name}: {' '.join(first)}"
        ) from None
    model.eval()
    return model
