"""The console recipe of Lee et al., "Searching for Music Mixing Graphs" (DAFx 2024).

``grafx fit`` uses it by default. Its pieces, each a plain grafx object:

- the loss: grafx's default objective :class:`~grafx.losses.BandLoss` (log band power in
  sixth-octave bands, every band alike, L/R + M/S); the paper's
  :class:`~grafx.losses.MixLoss` (A-weighted multi-resolution mel STFT) is ``"paper"``;
- the gain-staging regulariser :class:`~grafx.fit.penalty.GainStaging` on EQ, reverb and
  delay, weight 1e-3;
- AdamW, learning rate 1e-2 (falling along a half cosine to a tenth of it);
- random crops of 3.8 s whose first 1 s only warms processor state up (2.8 s are scored);
- a working rate of 30 kHz (the audio is resampled once, before the fit).

Example:
    >>> config = recipe_config(30000, steps=100)
    >>> config.optimizer, config.lr, config.crop_len, config.warmup_len
    ('adamw', 0.01, 84000, 30000)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from grafx.errors import ConfigError
from grafx.fit.config import FitConfig
from grafx.fit.penalty import GainStaging, Penalty

__all__ = [
    "WORKING_RATE",
    "MIN_SAMPLE_RATE",
    "CROP_SECONDS",
    "WARMUP_SECONDS",
    "check_sample_rate",
    "recipe_config",
    "recipe_loss",
    "recipe_penalties",
]

#: Working sample rate of the recipe, in Hz.
WORKING_RATE = 30000
#: Lowest sample rate a fit accepts, in Hz (below it the EQ bands and the mel loss lose sense).
MIN_SAMPLE_RATE = 8000
#: Seconds rendered per crop, of which the first :data:`WARMUP_SECONDS` are not scored.
CROP_SECONDS = 3.8
WARMUP_SECONDS = 1.0
#: Learning rate and its end value as a fraction.
LR, FINAL_LR = 1e-2, 0.1
#: Weight and types of the gain-staging regulariser.
GAIN_STAGING_WEIGHT = 1e-3
GAIN_STAGING_TYPES = ("eq", "reverb", "delay")
#: Learning-rate multiplier of the faders (grafx's addition: level changes go to the faders
#: rather than to EQ bands, as a person would mix). The fader gains only, not the fader's
#: dry/wet gate: a gate that moves 3x as fast trades level with the gain and wanders.
LR_SCALE = {"gain_pan/log_gain": 3.0}


def check_sample_rate(sample_rate: float, where: str = "sample rate") -> None:
    """Raise :class:`~grafx.errors.ConfigError` for a rate below :data:`MIN_SAMPLE_RATE`."""
    if not sample_rate >= MIN_SAMPLE_RATE:
        raise ConfigError(
            f"{where}: {sample_rate:g} Hz is below the {MIN_SAMPLE_RATE} Hz a fit needs; "
            f"resample the audio (grafx fit --sample-rate {WORKING_RATE})"
        )


def recipe_config(
    sample_rate: float,
    crop_seconds: float | None = CROP_SECONDS,
    warmup_seconds: float = WARMUP_SECONDS,
    **overrides: Any,
) -> FitConfig:
    """The recipe's :class:`~grafx.fit.FitConfig` at ``sample_rate``.

    Args:
        sample_rate: the working rate in Hz (at least :data:`MIN_SAMPLE_RATE`).
        crop_seconds: seconds rendered per step, warm-up included; ``None``: the whole audio.
        warmup_seconds: leading seconds of each crop that are rendered but not scored.
        **overrides: other :class:`~grafx.fit.FitConfig` fields.

    Raises:
        ConfigError: a rate below :data:`MIN_SAMPLE_RATE` or a crop not longer than its
            warm-up.
    """
    check_sample_rate(sample_rate)
    if crop_seconds is not None and not crop_seconds > warmup_seconds >= 0:
        raise ConfigError(
            f"the crop ({crop_seconds} s) must be longer than its warm-up ({warmup_seconds} s)"
        )
    warmup_len = round(warmup_seconds * sample_rate)
    crop_len = None if crop_seconds is None else round(crop_seconds * sample_rate) - warmup_len
    options = {
        "lr": LR,
        "final_lr": FINAL_LR,
        "optimizer": "adamw",
        "crop_len": crop_len,
        "warmup_len": warmup_len,
        "lr_scale": dict(LR_SCALE),
        **overrides,
    }
    return FitConfig(**options)


def recipe_loss(sample_rate: float, name: str | None = None):
    """The recipe's loss at ``sample_rate``: the objective ``name`` of
    :data:`grafx.losses.LOSSES` (``None``: :data:`grafx.losses.DEFAULT_LOSS`; ``"paper"``:
    :class:`~grafx.losses.MixLoss`)."""
    from grafx.losses import DEFAULT_LOSS, make_loss

    return make_loss(DEFAULT_LOSS if name is None else name, sample_rate)


def recipe_penalties(
    weight: float = GAIN_STAGING_WEIGHT, node_types: Iterable[str] | None = None
) -> dict[str, Penalty]:
    """The recipe's penalty terms: ``{"gain_staging": GainStaging(weight)}``.

    Args:
        weight: the gain-staging weight.
        node_types: the graph's node types; the regulariser is left out when none of
            :data:`GAIN_STAGING_TYPES` is among them (``None``: always included).
    """
    if node_types is not None and not set(GAIN_STAGING_TYPES) & set(node_types):
        return {}
    return {"gain_staging": GainStaging(weight, GAIN_STAGING_TYPES)}
