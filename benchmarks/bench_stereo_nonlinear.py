"""Stereo and distortion processors: grafx against the original library (0.6.0), per class.

Usage::

    .venv/bin/python benchmarks/bench_stereo_nonlinear.py [--repeats 5] [--json results.json]

Same protocol as ``bench_dynamics.py`` (batch 8, 2**17 samples, float32, 2 threads, worker
processes, alternating requests, medians). Inputs are stereo except where the class needs mono
(``MonoToStereo``; ``MidSideToStereo`` takes two mono inlets). "err" marks a failure: the
original's ChebyshevDistortion has no working backward (in-place autograd error).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_dynamics import OURS, THEIRS, Worker, fmt, measure, ratio
from workers import serve, time_call

# name -> (class, constructor kwargs, channels of each input)
SPECS = {
    "TanhDistortion": ("TanhDistortion", {}, [2]),
    "PiecewiseTanhDistortion": ("PiecewiseTanhDistortion", {}, [2]),
    "PowerDistortion(10)": ("PowerDistortion", {}, [2]),
    "ChebyshevDistortion(10)": ("ChebyshevDistortion", {}, [2]),
    "StereoGain": ("StereoGain", {}, [2]),
    "SideGainImager": ("SideGainImager", {}, [2]),
    "MonoToStereo": ("MonoToStereo", {}, [1]),
    "StereoToMidSide": ("StereoToMidSide", {}, [2]),
    "MidSideToStereo": ("MidSideToStereo", {}, [1, 1]),
}

_SETUPS: dict = {}


def _setup(spec: str, batch: int, length: int):
    import torch

    from grafx import processors as P

    key = (spec, batch, length)
    if key not in _SETUPS:
        gen = torch.Generator().manual_seed(0)
        cls, kwargs, channels = SPECS[spec]
        processor = getattr(P, cls)(**kwargs)
        params = {
            k: 0.01 * torch.randn(batch, v if isinstance(v, int) else v[0], generator=gen)
            for k, v in processor.parameter_size().items()
        }
        inputs = [0.3 * torch.randn(batch, c, length, generator=gen) for c in channels]
        _SETUPS.clear()
        _SETUPS[key] = (processor, params, inputs)
    return _SETUPS[key]


def _run(request: dict) -> dict:

    processor, params, inputs = _setup(request["spec"], request["batch"], request["length"])
    backward = request["mode"] != "forward"
    for leaf in [*params.values(), *inputs] if backward else []:
        leaf.requires_grad_(True)
        leaf.grad = None
    return {"seconds": time_call(processor, inputs, params, backward)}


def worker(threads: int) -> None:
    serve(_run, threads)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--specs", nargs="+", default=list(SPECS), choices=list(SPECS))
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

    script = Path(__file__).resolve()
    ours = Worker(OURS, False, args.threads, script)
    theirs = Worker(THEIRS, True, args.threads, script) if THEIRS.exists() else None
    rows = []
    print(f"{'class':>26} {'mode':>8} {'grafx s':>8} {'orig s':>8} {'ratio':>6}", flush=True)
    for spec in args.specs:
        for mode in args.modes:
            request = {"spec": spec, "mode": mode, "batch": args.batch, "length": args.length}
            pairs = [(ours, {})] + ([(theirs, {})] if theirs else [])
            medians = measure(pairs, request, args.repeats) + [None]
            a, b = medians[0], medians[1]
            rows.append({"class": spec, "mode": mode, "grafx_s": a, "original_s": b})
            print(f"{spec:>26} {mode:>8} {fmt(a)} {fmt(b)} {ratio(a, b)}", flush=True)
    ours.close()
    if theirs is not None:
        theirs.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
