"""How much audio each fit step renders: a crop of the recipe's length, a given one, or all."""

from __future__ import annotations

from grafx.errors import ConfigError
from grafx.fit.recipe import CROP_SECONDS

__all__ = ["choose_crop"]


def choose_crop(
    crop: float | None, warmup: float, num_samples: int, sample_rate: int
) -> tuple[float | None, str]:
    """``(seconds, note)``: the seconds rendered per step (``None``: all of the audio) and a
    line for the log.

    ``crop=None`` takes :data:`~grafx.fit.recipe.CROP_SECONDS`, or the whole audio when it is
    shorter.

    Raises:
        ConfigError: ``crop`` longer than the audio, or not longer than ``warmup``.
    """
    seconds = num_samples / sample_rate
    if crop is not None:
        if crop > seconds:
            raise ConfigError(
                f"--crop {crop:g} s is longer than the audio ({seconds:.2f} s); give a shorter crop"
            )
        if crop <= warmup:
            raise ConfigError(f"--crop {crop:g} s must be longer than --warmup {warmup:g} s")
        return crop, f"crops of {crop:g} s ({warmup:g} s warm-up)"
    if seconds < CROP_SECONDS:
        return None, f"the whole {seconds:.2f} s per step (shorter than a {CROP_SECONDS:g} s crop)"
    return CROP_SECONDS, f"crops of {CROP_SECONDS:g} s ({warmup:g} s warm-up)"
