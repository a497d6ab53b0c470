r"""Bounds on the sizes a processor spec from a file may ask for.

A graph file names processors and their constructor arguments
(:mod:`grafx.processors.spec`); the arguments decide how much memory and how many threads or
processes a render takes. :func:`check_spec_arguments` refuses, before the constructor runs,
every argument whose value would ask for an unbounded amount of either, or that the processor
cannot work with:

* lengths in samples (``ir_len``, ``segment_len``, ``n_fft``, ``delays``, ...): 1 to
  :data:`MAX_SPEC_LENGTH` (``pre_delay``: 0 to it);
* counts (``num_bands``, ``num_filters``, ``max_order``, ...): 1 to :data:`MAX_SPEC_COUNT`;
* sample rates (``sample_rate``, ``sr``): :data:`MIN_SPEC_RATE` to :data:`MAX_SPEC_RATE` Hz;
* durations (``*_ms``) and frequencies (``*_hz``, ``f_min``, ``f_max``): finite, positive
  and at most :data:`MAX_SPEC_MS` ms or :data:`MAX_SPEC_RATE` Hz;
* a black box's ``num_workers``: 1 to the CPUs this process may use;
* the product of one spec's counts and its longest length: at most :data:`MAX_SPEC_ELEMENTS`
  (``num_bands`` filters of ``ir_len`` taps each, say).

Arguments not named here are checked for type only (:func:`grafx.processors.spec.build_processor`).

Example:
    >>> check_spec_arguments("MultitapDelay", {"segment_len": 3000}, "delay")
    >>> check_spec_arguments("MultitapDelay", {"segment_len": 10**9}, "delay")
    Traceback (most recent call last):
    ...
    grafx.errors.ConfigError: delay.args.segment_len: MultitapDelay: 1000000000 is out of range; a length in samples from 1 to 1048576
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from grafx.errors import ConfigError

__all__ = [
    "check_spec_arguments",
    "MAX_SPEC_LENGTH",
    "MAX_SPEC_COUNT",
    "MAX_SPEC_ELEMENTS",
    "MIN_SPEC_RATE",
    "MAX_SPEC_RATE",
    "MAX_SPEC_MS",
]

#: Longest length in samples a spec may give (2**20, about 22 s at 48 kHz).
MAX_SPEC_LENGTH = 2**20
#: Most bands, filters, segments, harmonics, ... a spec may give.
MAX_SPEC_COUNT = 1024
#: Most elements (counts times the longest length) one spec may ask for.
MAX_SPEC_ELEMENTS = 2**27
#: Sample-rate range of a spec, in Hz.
MIN_SPEC_RATE = 1000.0
MAX_SPEC_RATE = 768_000.0
#: Longest duration in milliseconds a spec may give (one minute).
MAX_SPEC_MS = 60_000.0

_LENGTHS = {
    "ir_len",
    "iir_len",
    "fir_len",
    "segment_len",
    "lookahead_len",
    "max_input_len",
    "n_fft",
    "hop_length",
    "freq_sample_n",
    "num_frequency_bins",
    "num_magnitude_bins",
    "delays",
}
_ZERO_LENGTHS = {"pre_delay"}
_COUNTS = {
    "num_bands",
    "num_filters",
    "num_segments",
    "num_delay_per_segment",
    "zp_filter_bins",
    "num_harmonics",
    "num_sinusoids",
    "num_stages",
    "num_channels",
    "num_samples",
    "max_order",
    "order",
    "output_channels",
}
_RATES = {"sample_rate", "sr"}
_FREQUENCIES = {"f_min", "f_max", "center_hz"}
# Lengths that size an FFT buffer once, not per band: left out of the element product.
_NOT_IN_PRODUCT = {"max_input_len", "freq_sample_n"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return _number(value) and (isinstance(value, int) or float(value).is_integer())


def check_spec_arguments(name: str, args: Mapping[str, Any], where: str) -> None:
    """Refuse a spec argument that asks for an unbounded size (see the module docstring).

    Args:
        name: the processor's registered name (for the message).
        args: its constructor arguments as read from the file.
        where: the spec's location (``"G.json: processors['eq']"``).

    Raises:
        ConfigError: the first argument out of range; the message names ``where``, the
            argument, the value and the range.
    """
    counts, lengths = [], []
    for key, value in args.items():
        at = f"{where}.args.{key}"

        def refuse(what: str, value: Any = value, at: str = at) -> None:
            raise ConfigError(f"{at}: {name}: {value!r} is out of range; {what}")

        if value is None:
            continue
        if key in _LENGTHS or key in _ZERO_LENGTHS:
            low = 0 if key in _ZERO_LENGTHS else 1
            values = value if isinstance(value, list) else [value]
            if key == "delays" and not 1 <= len(values) <= MAX_SPEC_COUNT:
                refuse(f"1 to {MAX_SPEC_COUNT} delays", len(values))
            for item in values:
                if not _integer(item) or not low <= item <= MAX_SPEC_LENGTH:
                    refuse(f"a length in samples from {low} to {MAX_SPEC_LENGTH}", item)
            if key not in _NOT_IN_PRODUCT:
                lengths.append(max(values, default=0))
            if key == "delays":
                counts.append(len(values))
        elif key in _COUNTS:
            if not _integer(value) or not 1 <= value <= MAX_SPEC_COUNT:
                refuse(f"a count from 1 to {MAX_SPEC_COUNT}")
            counts.append(value)
        elif key in _RATES:
            if not _number(value) or not MIN_SPEC_RATE <= value <= MAX_SPEC_RATE:
                refuse(f"a sample rate from {MIN_SPEC_RATE:g} to {MAX_SPEC_RATE:g} Hz")
        elif key in _FREQUENCIES or key.endswith("_hz"):
            if not _number(value) or not 0 < value <= MAX_SPEC_RATE:
                refuse(f"a frequency above 0 and at most {MAX_SPEC_RATE:g} Hz")
        elif key.endswith("_ms") or key in ("t60_min", "t60_max"):
            top = MAX_SPEC_MS if key.endswith("_ms") else MAX_SPEC_MS / 1000
            if not _number(value) or not 0 <= value <= top:
                refuse(f"a duration from 0 to {top:g} {'ms' if key.endswith('_ms') else 's'}")
        elif key == "num_workers":
            cpus = _cpus()
            if not _integer(value) or not 1 <= value <= cpus:
                refuse(f"1 to {cpus} workers (the CPUs this process may use)")
        elif _number(value) and not math.isfinite(float(value)):
            refuse("a finite number")
    elements = math.prod(int(c) for c in counts) * int(max(lengths, default=1))
    if elements > MAX_SPEC_ELEMENTS:
        raise ConfigError(
            f"{where}: {name}: its counts and lengths ask for {elements} elements per node, over "
            f"the limit of {MAX_SPEC_ELEMENTS}; use fewer bands/segments or shorter lengths"
        )


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
