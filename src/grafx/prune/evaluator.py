"""Scoring a graph with some processors bypassed: the loss and the mix descriptors.

:class:`Evaluator` renders one graph with a chosen set of its nodes' gates closed (exactly the
audio of the graph without them) and scores the mix; :class:`DescriptorGuard` is the descriptor
half of pruning's acceptance rule (band levels and loudness against the fitted mix's).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from grafx.data.configs import UTILITY_TYPES
from grafx.data.rows import node_rows
from grafx.losses import MultiResolutionSTFTLoss
from grafx.metrics import (
    BAND_RANGE_HZ,
    STFT_DISTANCE_SETTINGS,
    band_levels,
    integrated_loudness,
    third_octave_centres,
)
from grafx.processors.core.drywet import DRYWET_KEY
from grafx.render.renderer import GraphRenderer

__all__ = ["DescriptorGuard", "Evaluator", "count_processors", "floating_dtype"]


class DescriptorGuard:
    """The descriptor half of pruning's acceptance rule: does a mix keep the fitted mix's tonal
    balance, loudness and spectral detail?

    A mix passes when, in every checked band, its absolute band-level error against the target
    is at most the fitted mix's plus ``band_tolerance_db``, and its absolute integrated-loudness
    error against the target is at most the fitted mix's plus ``loudness_tolerance_lu`` (for a
    fit that matches the target's loudness: within that many LU of the fitted mix's; a change
    towards the target always passes). Checked bands: third-octave mid bands
    with centres from 40 Hz to 16 kHz (those the rate holds), and the side bands among them
    whose target level is within 60 dB of the target's loudest mid band. With
    ``stft_tolerance`` a mix passes only if its STFT distance to the target (the metric
    :func:`grafx.metrics.mix_metrics` reports, :data:`~grafx.metrics.STFT_DISTANCE_SETTINGS`,
    on the whole mix) is at most (1 + ``stft_tolerance``) times the fitted mix's: band
    levels and loudness do not see a removed delay's echoes or a reverb's tail that a smooth
    objective lets through. With ``band_rms_tolerance`` the rms of the checked mid bands' errors
    may be at most (1 + ``band_rms_tolerance``) times the fitted mix's (the per-band rule
    alone lets every band drift by up to ``band_tolerance_db``).

    Args:
        fitted: the fitted (given) graph's mix ``(C, L)``.
        target: the target ``(C, L)``.
        sample_rate: in Hz.
        band_tolerance_db, loudness_tolerance_lu: the tolerances (``None``: that check off).
        stft_tolerance: the relative STFT-distance increase allowed (``None``: no check).
        band_rms_tolerance: the relative increase allowed of the rms of the checked mid bands'
            level errors (``None``: no check).
    """

    def __init__(
        self,
        fitted: Tensor,
        target: Tensor,
        sample_rate: float,
        band_tolerance_db: float | None,
        loudness_tolerance_lu: float | None,
        stft_tolerance: float | None = None,
        band_rms_tolerance: float | None = None,
    ):
        self.band_rms_tolerance = band_rms_tolerance
        self.sample_rate = sample_rate
        self.stft_tolerance = stft_tolerance
        self.target = target.detach()
        self.band_tolerance_db, self.loudness_tolerance_lu = (
            band_tolerance_db,
            loudness_tolerance_lu,
        )
        centres = third_octave_centres(sample_rate)
        self.span = (centres >= BAND_RANGE_HZ[0] * 0.99) & (centres <= BAND_RANGE_HZ[1] * 1.01)
        self.centres = centres
        target_levels = self._levels(target)
        self.target_levels = target_levels
        audible = target_levels[1] >= np_nanmax(target_levels[0]) - 60.0
        self.checked = [self.span, self.span & audible]  # mid, side
        self.fitted_error = abs(self._levels(fitted) - target_levels)
        self.target_loudness = self._loudness(target)
        self.fitted_loudness_error = abs(self._loudness(fitted) - self.target_loudness)
        self.fitted_rms = self.band_rms(self.fitted_error)
        self._stft: MultiResolutionSTFTLoss | None = None
        self.fitted_distance = math.nan if stft_tolerance is None else self.distance(fitted)

    def band_rms(self, error: np.ndarray) -> float:
        """The rms of the checked mid bands of a ``(2, bands)`` band-level error, in dB."""
        mid = error[0][self.checked[0] & np.isfinite(error[0])]
        return float(np.sqrt(np.mean(mid**2))) if mid.size else 0.0

    def distance(self, mix: Tensor) -> float:
        """The STFT distance of ``mix`` ``(C, L)`` to the target (float64, on the mix's device)."""
        if self._stft is None:
            self._stft = MultiResolutionSTFTLoss(**STFT_DISTANCE_SETTINGS).double()
        self._stft.to(mix.device)
        with torch.no_grad():
            target = self.target.to(mix.device, torch.float64).expand(2, -1)
            return float(self._stft(mix.detach().double().expand(2, -1), target))

    def _levels(self, mix: Tensor) -> np.ndarray:
        audio = mix.detach().to("cpu", torch.float64).expand(2, -1).numpy()
        mid_side = np.stack([0.5 * (audio[0] + audio[1]), 0.5 * (audio[0] - audio[1])])
        return band_levels(mid_side, self.sample_rate, self.centres)

    def _loudness(self, mix: Tensor) -> float:
        return integrated_loudness(mix.detach().expand(2, -1), self.sample_rate)

    def why_refused(self, mix: Tensor) -> str | None:
        """``None`` when ``mix`` passes, else the first reason it does not (one line)."""
        if self.band_tolerance_db is not None:
            error = abs(self._levels(mix) - self.target_levels)
            for row, part in enumerate(("mid", "side")):
                worse = error[row] - self.fitted_error[row]
                bad = self.checked[row] & (worse > self.band_tolerance_db)
                if bad.any():
                    band = int(bad.nonzero()[0][worse[bad].argmax()])
                    return (
                        f"{part} band {self.centres[band]:.0f} Hz error {worse[band]:+.1f} dB "
                        f"over the fitted mix's (tolerance {self.band_tolerance_db:g} dB)"
                    )
        if self.band_rms_tolerance is not None:
            rms = self.band_rms(abs(self._levels(mix) - self.target_levels))
            if not rms <= (1 + self.band_rms_tolerance) * self.fitted_rms + 1e-9:
                return (
                    f"mid band error rms {rms:.2f} dB against the fitted mix's "
                    f"{self.fitted_rms:.2f} dB (tolerance {self.band_rms_tolerance:g}, relative)"
                )
        if self.loudness_tolerance_lu is not None:
            error = self._loudness(mix) - self.target_loudness
            worse = abs(error) - self.fitted_loudness_error
            if not worse <= self.loudness_tolerance_lu:  # nan (silence) is refused too
                return (
                    f"loudness error {error:+.2f} LU, {worse:.2f} LU over the fitted mix's "
                    f"(tolerance {self.loudness_tolerance_lu:g} LU)"
                )
        if self.stft_tolerance is not None:
            distance = self.distance(mix)
            if not distance <= (1 + self.stft_tolerance) * self.fitted_distance:
                return (
                    f"STFT distance {distance:.4g} against the fitted mix's "
                    f"{self.fitted_distance:.4g} (tolerance {self.stft_tolerance:g}, relative)"
                )
        return None


def np_nanmax(values: np.ndarray) -> float:
    """The largest finite value (``-inf`` when none is finite)."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else -math.inf


def count_processors(G: Any) -> dict[str, int]:
    """Nodes per processor type (every type but ``in``, ``out`` and ``mix``)."""
    counts: dict[str, int] = {}
    for _, node_type in G.nodes(data="node_type"):
        if node_type not in UTILITY_TYPES:
            counts[node_type] = counts.get(node_type, 0) + 1
    return counts


class Evaluator:
    """The loss of one graph's mix with some of its nodes' gates closed.

    Args:
        G: the graph; processors: ``{type: nn.Module}``; parameters: ``{type: nested dict}`` in
            ``G``'s node order.
        sources: ``(K, C, L)``; target: ``(C', L)``; loss_fn: ``loss(estimate, target)``.
        type_sequence: a fixed schedule of ``G`` (``None``: beam search).
        guard: a :class:`DescriptorGuard` that :meth:`accepts` consults too (``None``: none).
        timeline: the :class:`~grafx.automation.Timeline` of the parameters' curves over
            ``sources`` (``None``: no automation); closing a node closes its gate at every knot.

    ``count`` counts the renders, ``refused`` the mixes within the loss limit that the guard
    refused.
    """

    def __init__(
        self,
        G: Any,
        processors: Mapping,
        parameters: Mapping,
        sources: Tensor,
        target: Tensor,
        loss_fn: Any,
        type_sequence: list[str] | None = None,
        guard: DescriptorGuard | None = None,
        timeline: Any = None,
    ):
        self.guard: DescriptorGuard | None = guard
        self.timeline = timeline
        self.refused = 0
        self.renderer = GraphRenderer(G, processors, type_sequence)
        self.parameters, self.sources, self.target, self.loss_fn = (
            parameters,
            sources,
            target,
            loss_fn,
        )
        self.rows = node_rows(G)
        self.types = dict(G.nodes(data="node_type"))
        self.count = 0
        # Types without a gate get an open one (+inf: exactly the processor), so that any node
        # can be closed for a check; it never leaves this evaluator.
        self.work = {
            t: dict(v.items()) if hasattr(v, "items") else v for t, v in parameters.items()
        }
        like = next(iter(_leaves(parameters)), torch.zeros(()))
        for node_type in set(self.types.values()) & set(processors):
            value = self.work.setdefault(node_type, {})
            equal = (
                G.config is None
                or node_type not in G.config
                or (G.config.num_inlets[node_type] == G.config.num_outlets[node_type])
            )
            if (
                isinstance(value, dict)
                and DRYWET_KEY not in value
                and DRYWET_KEY not in processors[node_type].parameter_size()
                and equal
            ):
                n = sum(1 for t in self.types.values() if t == node_type)
                value[DRYWET_KEY] = like.new_full((n, 1), math.inf)

    def closable(self, node: int, processors: Mapping) -> bool:
        """Whether a gate check can stand for the node's removal."""
        node_type = self.types[node]
        value = self.work.get(node_type)
        return isinstance(value, dict) and DRYWET_KEY in value and node_type in processors

    def excerpt(self, start: int, stop: int) -> Evaluator:
        """The same graph and parameters (and renderer) scored on ``[start, stop)`` only."""
        view = copy.copy(self)
        view.sources, view.target = self.sources[..., start:stop], self.target[..., start:stop]
        if self.timeline is not None:
            view.timeline = self.timeline.crop(start)
        view.count = 0
        return view

    def loss(self, closed: set[int]) -> float:
        """The loss of the mix with the ``closed`` nodes bypassed."""
        mix = self.mix(closed)
        with torch.no_grad():
            return float(self.loss_fn(mix, self.target))

    def accepts(self, closed: set[int], limit: float) -> bool:
        """Whether bypassing ``closed`` keeps the loss within ``limit`` and (with a guard) the
        mix descriptors within their tolerances."""
        mix = self.mix(closed)
        with torch.no_grad():
            if float(self.loss_fn(mix, self.target)) > limit:
                return False
        if self.guard is not None and self.guard.why_refused(mix) is not None:
            self.refused += 1
            return False
        return True

    def mix(self, closed: set[int]) -> Tensor:
        """The mix ``(C, L)`` with the ``closed`` nodes bypassed (no gradients)."""
        parameters = dict(self.work)
        by_type: dict[str, list[int]] = {}
        for node in closed:
            by_type.setdefault(self.types[node], []).append(self.rows[node])
        for node_type, rows in by_type.items():
            value = dict(parameters[node_type])
            gate = value[DRYWET_KEY].clone()
            gate[rows] = -math.inf
            value[DRYWET_KEY] = gate
            parameters[node_type] = value
        self.count += 1
        with torch.no_grad():
            mix, _ = self.renderer(self.sources, parameters, self.timeline)
            return mix


def floating_dtype(tree: Any) -> torch.dtype | None:
    """The dtype of the first floating tensor of a nested dict (``None`` if it has none)."""
    return next((t.dtype for t in _leaves(tree) if t.is_floating_point()), None)


def _leaves(tree: Any) -> Iterator[Tensor]:
    if isinstance(tree, Tensor):
        yield tree
    elif hasattr(tree, "items"):
        for value in tree.values():
            yield from _leaves(value)
