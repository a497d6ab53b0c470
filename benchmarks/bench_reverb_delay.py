"""Reverbs, delays and containers: grafx against the original library (0.6.0), per class.

Usage::

    bash benchmarks/setup_original.sh     # once: the original library in .venv-original
    .venv/bin/python benchmarks/bench_reverb_delay.py [--repeats 5] [--json results.json]

Batch 8, stereo, 2**17 samples, float32, 2 threads. Each library runs in its own worker process
(its own environment); requests alternate A B A B after a warm-up and the table shows medians
and the ours/theirs ratio. "forward" runs without autograd; "fwd+bwd" is a forward with every
parameter requiring grad, then ``backward`` of the mean square output. The original's CPU FFT
convolution is numerically wrong (reference section 5.1): use its times only.
Without ``.venv-original`` only grafx is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from workers import OURS, THEIRS, serve, tensor_leaves, time_call
from workers import Worker as BaseWorker

CLASSES = [
    "STFTMaskedNoiseReverb",
    "FilteredNoiseShapingReverb",
    "MultitapDelay",
    "DryWet(STFTMaskedNoiseReverb)",
    "SerialChain(reverb, delay)",
    "ParallelMix(reverb, delay)",
    "GainStagingRegularization(reverb)",
]


# ------------------------------------------------------------------------------ worker side


def _build(name: str):
    import warnings

    from grafx import processors as P

    warnings.filterwarnings("ignore")
    kw = {"flashfftconv": False}
    reverb = lambda: P.STFTMaskedNoiseReverb(**kw)  # noqa: E731
    delay = lambda: P.MultitapDelay(**kw)  # noqa: E731
    return {
        "STFTMaskedNoiseReverb": reverb,
        "FilteredNoiseShapingReverb": lambda: P.FilteredNoiseShapingReverb(**kw),
        "MultitapDelay": delay,
        "DryWet(STFTMaskedNoiseReverb)": lambda: P.DryWet(reverb()),
        "SerialChain(reverb, delay)": lambda: P.SerialChain({"reverb": reverb(), "delay": delay()}),
        "ParallelMix(reverb, delay)": lambda: P.ParallelMix({"reverb": reverb(), "delay": delay()}),
        "GainStagingRegularization(reverb)": lambda: P.GainStagingRegularization(reverb()),
    }[name]()


def _params(size, batch, generator):
    import torch

    out = {}
    for key, value in size.items():
        if isinstance(value, dict):
            out[key] = _params(value, batch, generator)
        else:
            shape = (value,) if isinstance(value, int) else tuple(value)
            out[key] = 0.01 * torch.randn(batch, *shape, generator=generator)
    return out


_SETUPS: dict = {}


def _setup(name: str, batch: int, length: int):
    import torch

    key = (name, batch, length)
    if key not in _SETUPS:
        gen = torch.Generator().manual_seed(0)
        processor = _build(name)
        params = _params(processor.parameter_size(), batch, gen)
        if name.startswith("DryWet"):
            params["drywet_weight"] = torch.zeros(batch, 1, 1)
        x = torch.randn(batch, 2, length, generator=gen)
        _SETUPS[key] = (processor, params, x)
    return _SETUPS[key]


def _run(request: dict) -> dict:

    processor, params, x = _setup(request["cls"], request["batch"], request["length"])
    backward = request["mode"] != "forward"
    for leaf in tensor_leaves(params) if backward else []:
        leaf.requires_grad_(True)
        leaf.grad = None
    return {"seconds": time_call(processor, [x], params, backward)}


def worker(threads: int) -> None:
    serve(_run, threads)


# ------------------------------------------------------------------------------ driver side


class Worker(BaseWorker):
    def __init__(self, python: Path, original: bool, threads: int):
        super().__init__(
            python, original, Path(__file__).resolve(), ["--worker", str(threads)], threads
        )

    def ask(self, **request) -> float:
        reply = self.request(**request)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--classes", nargs="+", default=CLASSES, choices=CLASSES)
    parser.add_argument("--modes", nargs="+", default=["forward", "fwd+bwd"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=2**17)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return

    ours = Worker(OURS, False, args.threads)
    theirs = Worker(THEIRS, True, args.threads) if THEIRS.exists() else None
    rows = []
    print(f"{'class':>36} {'mode':>8} {'ours s':>8} {'orig s':>8} {'ratio':>6}", flush=True)
    for cls in args.classes:
        for mode in args.modes:
            request = {"cls": cls, "mode": mode, "batch": args.batch, "length": args.length}
            a, b = [], []
            ours.ask(**request)
            if theirs is not None:
                theirs.ask(**request)
            for _ in range(args.repeats):
                a.append(ours.ask(**request))
                if theirs is not None:
                    b.append(theirs.ask(**request))
            row = {"class": cls, "mode": mode, "ours_s": statistics.median(a)}
            if b:
                row["original_s"] = statistics.median(b)
                row["ratio"] = row["ours_s"] / row["original_s"]
            rows.append(row)
            theirs_text = (
                f"{row['original_s']:8.3f} {row['ratio']:6.2f}" if b else f"{'-':>8} {'-':>6}"
            )
            print(f"{cls:>36} {mode:>8} {row['ours_s']:8.3f} {theirs_text}", flush=True)
    ours.close()
    if theirs is not None:
        theirs.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
