"""FDN impulse response: the Sherman-Morrison solve against a dense batched solve, and the cost
of the default length.

Usage::

    .venv/bin/python benchmarks/bench_fdn_solve.py [--repeats 7] [--ir-len 32768]

One IR of the default 8-line FDN (4 bands, T60 2 s, 44.1 kHz, float64), one thread. The dense
solve (``torch.linalg.solve`` of the ``(F, M, M)`` systems, the form before the structured one)
is timed alternating with :func:`grafx.processors.functional.fdn.fdn_impulse_response` at
``--ir-len``, both medians printed with their ratio and their largest difference; then the
structured solve alone at the default length :func:`~grafx.processors.functional.fdn.fdn_ir_len_for`
(4 s, 44.1 kHz). Absolute times depend on the machine's load: quote ``uptime`` with them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from grafx.processors.fdn import DEFAULT_DELAYS
from grafx.processors.functional.fdn import (
    band_t60,
    fdn_impulse_response,
    fdn_ir_len_for,
    householder,
)

SR = 44100.0


def dense_impulse_response(t60, b, c, delays, ir_len, sample_rate):
    """The FDN's IR by a dense solve per bin (the reference for the structured one)."""
    num_bins = ir_len // 2 + 1
    omega = torch.linspace(0, math.pi, num_bins, dtype=torch.float64)
    m = delays.to(torch.float64)
    exponent = (
        (3 * math.log(10) / sample_rate) * m / band_t60(t60, num_bins, sample_rate)[..., None]
    )
    diagonal = torch.exp(torch.complex(exponent, omega[None, :, None] * m))
    system = torch.diag_embed(diagonal) - householder(len(delays), t60).to(diagonal.dtype)
    rhs = b.to(diagonal.dtype)[:, None, :, None].expand(-1, num_bins, -1, -1)
    state = torch.linalg.solve(system, rhs)[..., 0]
    return torch.fft.irfft((state * c.to(diagonal.dtype)[:, None, :]).sum(-1), ir_len)


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ir-len", type=int, default=2**15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    delays = torch.tensor(DEFAULT_DELAYS)
    t60 = torch.full((1, 4), 2.0, dtype=torch.float64)
    b, c = (torch.randn(1, len(delays), generator=generator, dtype=torch.float64) for _ in "bc")
    call = (t60, b, c, delays, args.ir_len, SR)
    difference = (dense_impulse_response(*call) - fdn_impulse_response(*call)).abs().max()
    dense, structured = [], []
    for _ in range(args.repeats):
        dense.append(timed(dense_impulse_response, *call))
        structured.append(timed(fdn_impulse_response, *call))
    a, s = statistics.median(dense), statistics.median(structured)
    print(
        f"ir_len {args.ir_len}: dense {a:.3f} s, Sherman-Morrison {s:.3f} s, ratio {a / s:.2f}, "
        f"largest difference {difference.item():.1e}"
    )
    default = fdn_ir_len_for(4.0, SR)
    times = [timed(fdn_impulse_response, t60, b, c, delays, default, SR) for _ in range(3)]
    print(
        f"default ir_len {default} (t60_max 4 s): Sherman-Morrison {statistics.median(times):.3f} s"
    )


if __name__ == "__main__":
    main()
