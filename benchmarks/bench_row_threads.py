"""Row splitting of the compiled recursions (ballistics, one-pole envelopes) over threads.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_row_threads.py [--repeats 30]

``grafx.processors.core.ballistics.run_rows`` splits the rows of a numba kernel call over
torch's threads. Three strategies are timed alternately in one process (median of repeats):

* ``pool``: what grafx does: one process-wide pool, used above a size threshold;
* ``fresh``: a new ``ThreadPoolExecutor`` for every call, above the old threshold (2**16
  samples), as before this benchmark;
* ``single``: every call on the calling thread.

Part 1 is the forward kernel alone over rows x samples; part 2 is the console's Compressor and
NoiseGate, forward and forward+backward, at the fit recipe's shapes (5 stems, stereo, 3.8 s at
30 kHz); part 3 is the whole console at those shapes, forward+backward of a mean-square loss.
Ratios are against ``single``. In ``pool`` the calling thread runs the first block itself and
the pool the others; ``fresh`` leaves all blocks to the new pool and waits.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

import grafx.processors.core.ballistics as ballistics_module
import grafx.processors.core.envelope as envelope_module
from grafx.presets import console_processors


def run_rows_fresh(kernel, arrays) -> None:
    """The strategy before the shared pool: a new executor per call above 2**16 samples."""
    rows = arrays[0].shape[0]
    workers = min(torch.get_num_threads(), rows)
    if workers < 2 or arrays[0].size < 2**16:
        kernel(*arrays)
        return
    bounds = np.linspace(0, rows, workers + 1).astype(int)
    blocks = [tuple(a[lo:hi] for a in arrays) for lo, hi in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda block: kernel(*block), blocks))


def run_rows_single(kernel, arrays) -> None:
    kernel(*arrays)


STRATEGIES = {
    "pool": ballistics_module.run_rows,
    "fresh": run_rows_fresh,
    "single": run_rows_single,
}


def use(strategy: str) -> None:
    for module in (ballistics_module, envelope_module):
        module.run_rows = STRATEGIES[strategy]


def alternate(calls: dict, repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls alternating (one warm-up round)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(repeats + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def kernel_table(repeats: int) -> None:
    from grafx.processors.core.ballistics_numba import forward_kernel

    print("part 1: forward kernel, ms (ratio to single)")
    print(f"{'rows':>5} {'samples':>8}  " + "  ".join(f"{s:>15}" for s in STRATEGIES))
    for rows, samples in itertools.product((2, 4, 10), (24000, 48000, 114000, 384000)):
        x = np.random.default_rng(0).random((rows, samples))
        arrays = (x, np.zeros(rows), np.full(rows, 0.1), np.full(rows, 0.01))
        out = (np.empty_like(x), np.empty(x.shape, dtype=bool))
        every = (*arrays, *out)
        calls = {
            name: (lambda f=f, every=every: f(forward_kernel, every))
            for name, f in STRATEGIES.items()
        }
        ms = alternate(calls, repeats)
        cells = [f"{ms[s]:7.3f} ({ms[s] / ms['single']:4.2f})" for s in STRATEGIES]
        print(f"{rows:5d} {samples:8d}  " + "  ".join(cells))


def processor_table(repeats: int) -> None:
    print("\npart 2: console dynamics, 10 rows (5 stems x stereo) x 114000 samples, ms")
    processors = console_processors()
    x = 0.3 * torch.randn(5, 2, 114000, generator=torch.Generator().manual_seed(0))
    print(f"{'':26}" + "".join(f"{s:>16}" for s in STRATEGIES))
    for node_type in ("compressor", "noisegate"):
        processor = processors[node_type]
        params = {
            k: torch.zeros(5, *torch.Size(np.atleast_1d(shape)), requires_grad=True)
            for k, shape in processor.parameter_size().items()
        }
        for mode in ("forward", "fwd+bwd"):

            def call(strategy: str, processor=processor, params=params, mode=mode) -> None:
                use(strategy)
                if mode == "forward":
                    with torch.no_grad():
                        processor(x, **params)
                else:
                    processor(x, **params).square().mean().backward()

            calls = {s: (lambda s=s, call=call: call(s)) for s in STRATEGIES}
            ms = alternate(calls, repeats)
            cells = [f"{ms[s]:8.2f} ({ms[s] / ms['single']:4.2f})" for s in STRATEGIES]
            print(f"{node_type + ' ' + mode:26}" + "".join(cells))
    use("pool")


def console_table(repeats: int) -> None:
    from grafx.fit import GraphRenderer
    from grafx.presets import build_mixing_console, console_parameters

    print("\npart 3: console (5 tracks, 7 processors) fwd+bwd, 5 x 2 x 114000 samples, ms")
    G, type_sequence = build_mixing_console(5)
    processors = console_processors()
    renderer = GraphRenderer(G, processors, type_sequence)
    params = console_parameters(G, processors, 30000)
    leaves = [t.requires_grad_(True) for per in params.values() for t in per.values()]
    stems = 0.3 * torch.randn(5, 2, 114000, generator=torch.Generator().manual_seed(1))

    def call(strategy: str) -> None:
        use(strategy)
        mix = renderer(stems, params)[0]
        torch.autograd.grad(mix.square().mean(), leaves)

    ms = alternate({s: (lambda s=s: call(s)) for s in STRATEGIES}, repeats)
    print("".join(f"{s:>8} {ms[s]:8.1f} ({ms[s] / ms['single']:4.2f})" for s in STRATEGIES))
    use("pool")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kernel_table(args.repeats)
    processor_table(args.repeats)
    console_table(max(args.repeats // 3, 3))


if __name__ == "__main__":
    main()
