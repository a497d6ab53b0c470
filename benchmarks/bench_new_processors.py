"""The processors new in grafx (issue 13): forward and forward+backward time per class.

Usage::

    .venv/bin/python benchmarks/bench_new_processors.py [--repeats 5] [--length 131072] [--only NAME ...]

Batch 8, stereo, 2**17 samples, float32, 2 threads, in one process; each figure is the median of
``--repeats`` timed calls after a warm-up (:func:`workers.time_call`). Where pedalboard has the
same effect (Limiter, Chorus), its forward time on the same 8 stereo signals (one call per
signal, as it processes one at a time) is measured alternating with ours, and the ratio printed
(pedalboard's static behaviour is not the same algorithm: the ratio is a speed reference only).
Absolute times depend on the machine's load: quote ``uptime`` with them.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from workers import time_call

SR = 44100.0
# name -> (class, constructor kwargs); generators take no audio input.
SPECS = {
    "SineOscillator": ("SineOscillator", {}),
    "SawtoothOscillator(32)": ("SawtoothOscillator", {"num_harmonics": 32}),
    "AdditiveSynth(8)": ("AdditiveSynth", {"num_sinusoids": 8}),
    "NoiseGenerator(2ch)": ("NoiseGenerator", {"num_channels": 2}),
    "ADSREnvelope": ("ADSREnvelope", {}),
    "Limiter(256)": ("Limiter", {"lookahead_len": 256}),
    "Expander": ("Expander", {}),
    "LinkwitzRileyCrossover(3)": ("LinkwitzRileyCrossover", {"num_bands": 3}),
    "MultibandCompressor(3)": ("MultibandCompressor", {"num_bands": 3}),
    "Chorus": ("Chorus", {}),
    "Flanger": ("Flanger", {}),
    "Phaser(4 stages)": ("Phaser", {}),
    "Panner": ("Panner", {}),
    "FDNReverb(8 lines)": ("FDNReverb", {}),
}
PEERS = {"Limiter(256)": "Limiter", "Chorus": "Chorus"}


def setup(cls: str, kwargs: dict, batch: int, length: int):
    from grafx import processors as P

    gen = torch.Generator().manual_seed(0)
    processor = getattr(P, cls)(**kwargs)
    params = {}
    for key, size in processor.parameter_size().items():
        shape = (size,) if isinstance(size, int) else tuple(size)
        params[key] = 0.1 * torch.randn(batch, *shape, generator=gen)
    if not processor.input_names:
        return processor, [], {**params, "num_samples": length}
    return processor, [0.3 * torch.randn(batch, 2, length, generator=gen)], params


def median_time(processor, inputs, params, backward, repeats):
    if backward:
        for v in [*inputs, *params.values()]:
            if isinstance(v, torch.Tensor):
                v.requires_grad_()
    time_call(processor, inputs, params, backward)  # warm-up
    return statistics.median(time_call(processor, inputs, params, backward) for _ in range(repeats))


def pedalboard_time(name: str, audio, repeats: int) -> float:
    import time

    import pedalboard

    plugin = getattr(pedalboard, name)()
    signals = [a.numpy() for a in audio]

    def once():
        start = time.perf_counter()
        for s in signals:
            plugin.process(s, SR)
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--length", type=int, default=2**17)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=None, help="names (or prefixes) to run")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"batch {args.batch}, stereo, {args.length} samples, float32, 2 threads")
    print(
        f"{'processor':28s} {'forward s':>10s} {'fwd+bwd s':>10s} {'pedalboard fwd s':>17s} {'ours/pb':>8s}"
    )
    for name, (cls, kwargs) in SPECS.items():
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        processor, inputs, params = setup(cls, kwargs, args.batch, args.length)
        forward = median_time(processor, inputs, params, False, args.repeats)
        both = median_time(processor, inputs, params, True, args.repeats)
        peer = ratio = ""
        if name in PEERS:
            audio = [x.detach() for x in inputs[0]]
            ours = [], []
            for _ in range(args.repeats):  # alternating ours / pedalboard
                ours[0].append(median_time(processor, inputs, params, False, 1))
                ours[1].append(pedalboard_time(PEERS[name], audio, 1))
            a, b = statistics.median(ours[0]), statistics.median(ours[1])
            peer, ratio = f"{b:.4f}", f"{a / b:.2f}"
        print(f"{name:28s} {forward:10.4f} {both:10.4f} {peer:>17s} {ratio:>8s}")


if __name__ == "__main__":
    main()
