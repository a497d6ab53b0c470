r"""Progress of long loops: a bar on a terminal, a log line every few seconds elsewhere.

:class:`Progress` shows one rate (items per second, measured over this run) and an estimate
of the time left that follows whichever budget ends first: a count (``total``) or a time
budget (``seconds``). On a terminal it draws a ``tqdm`` bar whose total shrinks to the count the
time budget will allow; when ``stderr`` is not a terminal (a log file, a CI job) it writes one
line through :mod:`logging` (logger ``grafx.progress``) every ``interval`` seconds instead of
redrawing, plus a last line when it closes.

Example:
    >>> with Progress("fit", total=3, enabled=False) as progress:
    ...     for step in range(3):
    ...         progress.update(step + 1, loss=0.5)
    >>> progress.done
    3
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

__all__ = ["Progress", "LOGGER", "format_seconds"]

LOGGER = logging.getLogger("grafx.progress")
#: Seconds between progress lines when not on a terminal.
INTERVAL = 10.0


def format_seconds(seconds: float) -> str:
    """``75.3`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Progress of a loop of ``total`` items with an optional time budget.

    Args:
        desc: what is counted (``"fit"``, ``"prune ranking"``).
        total: the count budget.
        initial: items done before this run (a resume).
        seconds: the time budget in seconds, counting ``spent`` before this run; ``None``: none.
        spent: seconds spent before this run.
        unit: the item's name (``"step"``).
        enabled: ``False`` shows nothing.
        interval: seconds between log lines when not on a terminal.
        terminal: draw a bar (default: whether ``stderr`` is a terminal).
    """

    def __init__(
        self,
        desc: str,
        total: int,
        *,
        initial: int = 0,
        seconds: float | None = None,
        spent: float = 0.0,
        unit: str = "step",
        enabled: bool = True,
        interval: float = INTERVAL,
        terminal: bool | None = None,
    ):
        self.desc, self.total, self.initial, self.unit = desc, total, initial, unit
        self.seconds, self.spent, self.interval = seconds, spent, interval
        self.enabled = enabled
        self.done = initial
        self.began = time.perf_counter()
        self.last_line = self.began
        self.logged: int | None = None  # the count of the last line written
        self.fields: dict[str, Any] = {}
        terminal = sys.stderr.isatty() if terminal is None else terminal
        self.bar = None
        if enabled and terminal:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def rate(self) -> float:
        """Items per second in this run (0 before the first)."""
        elapsed = time.perf_counter() - self.began
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    def expected_total(self) -> int:
        """The count at which the first budget ends, at the current rate."""
        if self.seconds is None or self.rate <= 0:
            return self.total
        left = self.seconds - self.spent - (time.perf_counter() - self.began)
        return max(self.done, min(self.total, self.done + math.ceil(left * self.rate)))

    def eta(self) -> float | None:
        """Seconds until the first budget ends (``None`` before a rate is known)."""
        rate = self.rate
        if rate <= 0:
            return None
        left = (self.total - self.done) / rate
        if self.seconds is not None:
            left = min(left, self.seconds - self.spent - (time.perf_counter() - self.began))
        return max(left, 0.0)

    def update(self, done: int, **fields: Any) -> None:
        """Record that ``done`` items are done in total; ``fields`` (``loss=...``) are shown."""
        step = done - self.done
        self.done = done
        self.fields = fields
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.total = self.expected_total()
            self.bar.set_postfix({k: _text(v) for k, v in fields.items()}, refresh=False)
            self.bar.update(step)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.interval:
            self.last_line, self.logged = now, done
            LOGGER.info(self.line())

    def line(self) -> str:
        """One line: ``fit: step 120/433 (28%), loss 0.5100, 4.23 step/s, 1:14 left``."""
        total = self.expected_total()
        parts = [f"{self.desc}: {self.unit} {self.done}/{total}"]
        if total:
            parts[0] += f" ({100 * self.done / total:.0f}%)"
        parts += [f"{k} {_text(v)}" for k, v in self.fields.items()]
        if self.rate > 0:
            parts.append(f"{self.rate:.2f} {self.unit}/s")
        eta = self.eta()
        if eta is not None:
            parts.append(f"{format_seconds(eta)} left")
        return ", ".join(parts)

    def close(self) -> None:
        """End the bar, or write the last line."""
        if self.bar is not None:
            self.bar.total = self.done
            self.bar.refresh()
            self.bar.close()
            self.bar = None
        elif self.enabled and self.done > self.initial and self.done != self.logged:
            LOGGER.info(self.line())  # not twice when the last update already wrote it
        self.enabled = False


def _text(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
