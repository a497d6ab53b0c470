"""Dynamics processors and ballistics backends: grafx against the original library (0.6.0).

Usage::

    bash benchmarks/setup_original.sh     # once: the original library in .venv-original
    .venv/bin/python benchmarks/bench_dynamics.py [--repeats 5] [--json results.json]

Batch 8, stereo, 2**17 samples, float32, 2 threads. Each side runs in its own worker process;
requests alternate between the workers after a warm-up and the table shows medians and ratios
against the first column. Columns:

* ``grafx``: this repository (ballistics on the default ``"auto"`` backend, i.e. numba);
* ``original``: grafx 0.6.0 in ``.venv-original`` (ballistics through torchcomp + torchlpc);
* for ``backend:`` rows, grafx with that ballistics backend; ``torchcomp`` runs grafx from
  ``.venv-original``'s interpreter, the only environment here where torchcomp is installed
  (it needs torchlpc, which builds against torch).

"forward" runs without autograd; "fwd+bwd" is a forward with every parameter requiring grad,
then ``backward`` of the mean square output. The original's compressor computes a different
(wrong) gain and its CPU FFT convolution is wrong (reference section 5.1): times only.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from workers import OURS, THEIRS, serve, tensor_leaves, time_call
from workers import Worker as BaseWorker

# name -> (class, constructor kwargs shared with the original)
SPECS = {
    "Compressor(iir, -, quadratic)": ("Compressor", {}),
    "Compressor(ballistics, -, quadratic)": ("Compressor", {"energy_smoother": "ballistics"}),
    "Compressor(iir, ballistics, quadratic)": ("Compressor", {"gain_smoother": "ballistics"}),
    "Compressor(ballistics, ballistics, hard)": (
        "Compressor",
        {"energy_smoother": "ballistics", "gain_smoother": "ballistics", "knee": "hard"},
    ),
    "Compressor(-, iir, exponential, log)": (
        "Compressor",
        {
            "energy_smoother": None,
            "gain_smoother": "iir",
            "knee": "exponential",
            "gain_smooth_in_log": True,
        },
    ),
    "NoiseGate(iir, -, quadratic)": ("NoiseGate", {}),
    "NoiseGate(ballistics, ballistics, hard)": (
        "NoiseGate",
        {"energy_smoother": "ballistics", "gain_smoother": "ballistics", "knee": "hard"},
    ),
    "ApproxCompressor": ("ApproxCompressor", {}),
    "ApproxNoiseGate": ("ApproxNoiseGate", {}),
}
BALLISTICS_SPEC = "Compressor(ballistics, ballistics, hard)"
SIGNAL_COUNT = {}


# ------------------------------------------------------------------------------ worker side


def _build(spec: str, backend: str | None):
    import warnings

    from grafx import processors as P

    warnings.filterwarnings("ignore")
    cls, kwargs = SPECS[spec]
    kwargs = {**kwargs, "flashfftconv": False}
    if backend is not None:
        kwargs["backend"] = backend
    return getattr(P, cls)(**kwargs)


_SETUPS: dict = {}


def _setup(spec: str, backend: str | None, batch: int, length: int):
    import torch

    key = (spec, backend, batch, length)
    if key not in _SETUPS:
        gen = torch.Generator().manual_seed(0)
        processor = _build(spec, backend)
        params = {
            k: 0.01 * torch.randn(batch, v if isinstance(v, int) else v[0], generator=gen)
            for k, v in processor.parameter_size().items()
        }
        x = 0.3 * torch.randn(batch, 2, length, generator=gen)
        _SETUPS.clear()
        _SETUPS[key] = (processor, params, x)
    return _SETUPS[key]


def _run(request: dict) -> dict:

    processor, params, x = _setup(
        request["spec"], request.get("backend"), request["batch"], request["length"]
    )
    backward = request["mode"] != "forward"
    for leaf in tensor_leaves(params) if backward else []:
        leaf.requires_grad_(True)
        leaf.grad = None
    return {"seconds": time_call(processor, [x], params, backward)}


def worker(threads: int) -> None:
    serve(_run, threads)


# ------------------------------------------------------------------------------ driver side


class Worker(BaseWorker):
    """A timing worker: ``python`` with either grafx's ``src`` or the original on its path."""

    def __init__(self, python: Path, original: bool, threads: int, script: Path):
        super().__init__(python, original, script, ["--worker", str(threads)], threads)

    def ask(self, **request) -> float | None:
        return self.request(**request).get("seconds")


def measure(workers: list[tuple[Worker, dict]], request: dict, repeats: int) -> list:
    """Warm each worker up, then alternate; the median per worker (None when it failed)."""
    times: list[list[float]] = [[] for _ in workers]
    failed = [False] * len(workers)
    for i, (w, extra) in enumerate(workers):
        failed[i] = w.ask(**request, **extra) is None
    for _ in range(repeats):
        for i, (w, extra) in enumerate(workers):
            if not failed[i]:
                times[i].append(w.ask(**request, **extra))
    return [None if f else statistics.median(t) for f, t in zip(failed, times, strict=True)]


def fmt(seconds: float | None) -> str:
    return f"{seconds:8.3f}" if seconds is not None else "     err"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:6.2f}" if a is not None and b is not None else "     -"


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
    parser.add_argument("--no-backends", action="store_true", help="skip the backend table")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return

    script = Path(__file__).resolve()
    ours = Worker(OURS, False, args.threads, script)
    have_original = THEIRS.exists()
    theirs = Worker(THEIRS, True, args.threads, script) if have_original else None
    rows = []
    print(f"{'class':>42} {'mode':>8} {'grafx s':>8} {'orig s':>8} {'ratio':>6}", flush=True)
    for spec in args.specs:
        for mode in args.modes:
            request = {"spec": spec, "mode": mode, "batch": args.batch, "length": args.length}
            pairs = [(ours, {})] + ([(theirs, {})] if theirs else [])
            medians = measure(pairs, request, args.repeats) + [None]
            a, b = medians[0], medians[1]
            rows.append({"class": spec, "mode": mode, "grafx_s": a, "original_s": b})
            print(f"{spec:>42} {mode:>8} {fmt(a)} {fmt(b)} {ratio(a, b)}", flush=True)

    if not args.no_backends:
        # grafx's own class with each ballistics backend; torchcomp only in .venv-original
        tc = Worker(THEIRS, False, args.threads, script) if have_original else None
        contenders = [
            ("numba", ours, {"backend": "numba"}),
            ("python", ours, {"backend": "python"}),
        ]
        if tc is not None:
            contenders.append(("torchcomp", tc, {"backend": "torchcomp"}))
        print(f"\nballistics backends, grafx {BALLISTICS_SPEC}", flush=True)
        print(f"{'backend':>12} {'mode':>8} {'seconds':>8} {'vs numba':>8}", flush=True)
        for mode in args.modes:
            request = {
                "spec": BALLISTICS_SPEC,
                "mode": mode,
                "batch": args.batch,
                "length": args.length,
            }
            repeats = args.repeats
            medians = measure([(w, extra) for _, w, extra in contenders], request, repeats)
            for (name, _, _), m in zip(contenders, medians, strict=True):
                rows.append({"class": BALLISTICS_SPEC, "mode": mode, "backend": name, "s": m})
                print(f"{name:>12} {mode:>8} {fmt(m)} {ratio(m, medians[0]):>8}", flush=True)
        if tc is not None:
            tc.close()
    ours.close()
    if theirs is not None:
        theirs.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
