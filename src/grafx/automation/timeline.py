r"""Where a graph's automation knots sit in time, and which stretch of it a render covers.

A :class:`Timeline` holds the knot times of every curve of a graph, in seconds from the start
of the song (so they mean the same at any sample rate), the interpolation method, and the
sample rate and start time of the audio being rendered. A render of a crop passes the
timeline moved to the crop (:meth:`Timeline.crop`), so each curve is read at the right
stretch of the song.

Example:
    >>> tl = Timeline.uniform(duration=2.0, every=0.5, sample_rate=8)
    >>> tl.knot_times
    (0.0, 0.5, 1.0, 1.5, 2.0)
    >>> tl.crop(4).sample_times(3)
    tensor([0.5000, 0.6250, 0.7500], dtype=torch.float64)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from grafx.automation.curves import INTERPOLATIONS
from grafx.errors import ParameterError

__all__ = ["Timeline", "MAX_KNOTS"]

#: Most knots a timeline may hold (a file cannot ask for an unbounded curve).
MAX_KNOTS = 100_000


def _positive(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"timeline: {name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ParameterError(f"timeline: {name} must be positive and finite, got {value!r}")
    return number


@dataclass(frozen=True)
class Timeline:
    """Knot times of a graph's curves and the stretch of audio a render covers.

    Attributes:
        knot_times: strictly increasing knot times in seconds from the song's start, ``>= 0``.
        sample_rate: rate of the audio rendered, Hz.
        start: time of the rendered audio's first sample, seconds (a crop's offset).
        method: ``"linear"`` or ``"cubic"`` (see :mod:`grafx.automation.curves`).
        duration: the song's length in seconds, if known; knots must lie within it.

    Raises:
        ParameterError: knots that are empty, not finite, not increasing, negative or after
            ``duration``; a rate that is not positive; an unknown method. What a file or an
            option asks for (:meth:`from_dict`, :meth:`uniform`) is also refused beyond
            :data:`MAX_KNOTS` knots.
    """

    knot_times: tuple[float, ...]
    sample_rate: float
    start: float = 0.0
    method: str = "linear"
    duration: float | None = None

    def __post_init__(self) -> None:
        try:
            knots = tuple(float(t) for t in self.knot_times)
        except (TypeError, ValueError):
            raise ParameterError(
                f"timeline: knot times must be numbers, got {self.knot_times!r}"
            ) from None
        if not knots:
            raise ParameterError("timeline: no knot times")
        if not all(math.isfinite(t) for t in knots):
            raise ParameterError("timeline: knot times must be finite")
        if knots[0] < 0:
            raise ParameterError(f"timeline: the first knot is at {knots[0]} s, before the start")
        for k, (a, b) in enumerate(zip(knots, knots[1:], strict=False)):
            if not b > a:
                raise ParameterError(
                    f"timeline: knot times must increase; knot {k + 1} ({b} s) is not after "
                    f"knot {k} ({a} s)"
                )
        object.__setattr__(self, "knot_times", knots)
        object.__setattr__(self, "sample_rate", _positive("sample_rate", self.sample_rate))
        start = float(self.start)
        if not math.isfinite(start) or start < 0:
            raise ParameterError(f"timeline: start must be finite and >= 0, got {self.start!r}")
        object.__setattr__(self, "start", start)
        if self.method not in INTERPOLATIONS:
            raise ParameterError(
                f"timeline: unknown interpolation {self.method!r}; use one of {INTERPOLATIONS}"
            )
        if self.duration is not None:
            duration = _positive("duration", self.duration)
            object.__setattr__(self, "duration", duration)
            if knots[-1] > duration:
                raise ParameterError(
                    f"timeline: the last knot is at {knots[-1]} s, after the song's end "
                    f"({duration} s)"
                )

    @classmethod
    def uniform(
        cls, duration: float, every: float, sample_rate: float, method: str = "linear"
    ) -> Timeline:
        """Knots every ``every`` seconds from 0, the last one at ``duration`` exactly."""
        duration, every = _positive("duration", duration), _positive("every", every)
        count = max(1, math.ceil(duration / every - 1e-9))
        if count + 1 > MAX_KNOTS:
            raise ParameterError(
                f"timeline: knots every {every} s over {duration} s make {count + 1}; at most "
                f"{MAX_KNOTS}"
            )
        knots = [min(k * every, duration) for k in range(count)] + [duration]
        return cls(tuple(knots), sample_rate, method=method, duration=duration)

    @property
    def num_knots(self) -> int:
        return len(self.knot_times)

    def crop(self, offset: int) -> Timeline:
        """The timeline of a crop starting ``offset`` samples after this one's start."""
        return replace(self, start=self.start + int(offset) / self.sample_rate)

    def at_rate(self, sample_rate: float) -> Timeline:
        """The same knots and start for audio at another rate."""
        return replace(self, sample_rate=sample_rate)

    def knot_tensor(self, like: Tensor | None = None) -> Tensor:
        """The knot times ``(K,)`` in seconds (float64, or ``like``'s dtype and device)."""
        if like is None:
            return torch.tensor(self.knot_times, dtype=torch.float64)
        return torch.tensor(self.knot_times, dtype=like.dtype, device=like.device)

    def sample_times(
        self,
        num_samples: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> Tensor:
        """Time in seconds ``(num_samples,)`` of each rendered sample."""
        n = torch.arange(int(num_samples), device=device, dtype=torch.float64)
        return (self.start + n / self.sample_rate).to(dtype)

    def to_dict(self) -> dict:
        """The JSON form of graph files: knots, method and duration (not the render's rate)."""
        return {
            "knot_times": list(self.knot_times),
            "method": self.method,
            "duration": self.duration,
        }

    @classmethod
    def from_dict(cls, data: object, sample_rate: float, where: str = "timeline") -> Timeline:
        """Read :meth:`to_dict`'s form, naming ``where`` in errors."""
        if not isinstance(data, dict) or not isinstance(data.get("knot_times"), Sequence):
            raise ParameterError(
                f"{where}: expected {{'knot_times': [...], ...}}, got {data!r:.80}"
            )
        unknown = sorted(set(data) - {"knot_times", "method", "duration"})
        if unknown:
            raise ParameterError(f"{where}: unknown key(s) {unknown}")
        knots = data["knot_times"]
        if len(knots) > MAX_KNOTS:
            raise ParameterError(f"{where}: {len(knots)} knots; at most {MAX_KNOTS}")
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in knots):
            raise ParameterError(f"{where}: knot times must be numbers")
        try:
            return cls(
                tuple(knots),
                sample_rate,
                method=data.get("method", "linear"),
                duration=data.get("duration"),
            )
        except ParameterError as error:
            raise ParameterError(f"{where}: {error}") from None
