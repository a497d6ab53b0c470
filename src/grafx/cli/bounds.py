"""Argument types with ranges: every number a command line gives is bounded where it is parsed.

Each type is an ``argparse`` ``type=`` callable; a value out of range is a usage error that
names the range (``grafx: error: fit: argument --seed: must be from 0 to ...``).
"""

from __future__ import annotations

import argparse
import math
import os

from grafx.fit.options import MAX_LR, MAX_SAMPLE_RATE, MAX_SEED

__all__ = [
    "MAX_LR",
    "MAX_SAMPLE_RATE",
    "MAX_SEED",
    "THREADS_PER_CPU",
    "MIN_DPI",
    "MAX_DPI",
    "seed",
    "sample_rate",
    "learning_rate",
    "cpus",
    "threads",
    "dpi",
]

#: Most torch threads: this many times the CPUs this process may use.
THREADS_PER_CPU = 4
#: PNG resolutions, in dots per inch.
MIN_DPI, MAX_DPI = 10, 1200


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _within(value, low, high, text: str):
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text}")
    return value


def seed(text: str) -> int:
    """A random seed, 0 to :data:`MAX_SEED`."""
    return _within(_int(text), 0, MAX_SEED, text)


def sample_rate(text: str) -> int:
    """A sample rate in Hz, 1 to :data:`MAX_SAMPLE_RATE`."""
    return _within(_int(text), 1, MAX_SAMPLE_RATE, text)


def learning_rate(text: str) -> float:
    """A learning rate, above 0 and at most :data:`MAX_LR`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_LR):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_LR:g}, got {text}")
    return value


def cpus() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads(text: str) -> int:
    """A thread count, 1 to :data:`THREADS_PER_CPU` times the CPUs."""
    return _within(_int(text), 1, THREADS_PER_CPU * cpus(), text)


def dpi(text: str) -> int:
    """A PNG resolution, :data:`MIN_DPI` to :data:`MAX_DPI`."""
    return _within(_int(text), MIN_DPI, MAX_DPI, text)
