"""Console variants on fit_quality.py's pedalboard-mixed targets (issue 24 item 7).

Fits the console of ``grafx fit`` (in this process, :func:`grafx.fit.run.run_fit` with the
command's defaults) with the compressor or reverb of the strip swapped for a variant, and prints
the fitted mix's STFT distance beside the least-squares gain mix's (as ``fit_quality.py``)::

    PYTHONPATH=src python benchmarks/console_variants.py --source soundfont --index 0 \\
        --effects compressor,gain,pan --variants paper,ballistics --steps 500 --seconds 6

Each variant is a compressor and its initial parameters (``VARIANTS``; ``peak`` is
``grafx fit --console peak`` itself, every other runs on the paper's console), or a reverb
(``REVERBS``: a longer ``STFTMaskedNoiseReverb``, ``fdn`` an ``FDNReverb``, ``fns`` a
``FilteredNoiseShapingReverb``) on the paper's console, or ``peak_<reverb>`` on the peak
console, or ``compressor+reverb``. 1 torch thread; the fits are deterministic (seed 0).
Needs the ``bench`` extra (pedalboard; FluidSynth for ``--source soundfont``). Appends one JSON
line per fit to ``--out`` (default ``benchmarks/results/console_variants.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _ballistics_z(attack_ms: float, release_ms: float, rate: float) -> list[float]:
    """``z_alpha`` of an energy ballistics: index 0 release, 1 attack; sigma(z) = 1 - pole."""
    poles = [math.exp(-1000.0 / (t * rate)) for t in (release_ms, attack_ms)]
    return [_logit(1 - p) for p in poles]


def _iir_z(time_ms: float, rate: float) -> list[float]:
    return [_logit(math.exp(-1000.0 / (time_ms * rate)))]


# name: (Compressor keywords, initial z_alpha_pre builder or None, settings of every compressor)
VARIANTS = {
    "paper": ({}, None, {}),
    "iir10": ({}, lambda r: _iir_z(10.0, r), {}),
    "ballistics": ({"energy_smoother": "ballistics"}, lambda r: _ballistics_z(2.0, 40.0, r), {}),
    "ballistics_hard": (
        {"energy_smoother": "ballistics", "knee": "hard"},
        lambda r: _ballistics_z(2.0, 40.0, r),
        {},
    ),
    "ballistics_z0": ({"energy_smoother": "ballistics"}, lambda r: [0.0, 0.0], {}),
    "energy_unlinked": (
        {"energy_smoother": "ballistics", "knee": "hard", "linked": False},
        lambda r: _ballistics_z(2.0, 40.0, r),
        {},
    ),
    # pedalboard's (JUCE's) compressor: peak envelope per channel, hard knee; the attack and
    # release of a 10 ms / 150 ms JUCE setting (JUCE's times are 2 pi times its 1/e times)
    "juce": (
        {"energy_smoother": "ballistics", "knee": "hard", "detector": "peak", "linked": False},
        lambda r: _ballistics_z(10 / (2 * math.pi), 150 / (2 * math.pi), r),
        {},
    ),
    "juce_quad": (
        {"energy_smoother": "ballistics", "detector": "peak", "linked": False},
        lambda r: _ballistics_z(10 / (2 * math.pi), 150 / (2 * math.pi), r),
        {},
    ),
    "ballistics_hard_t30": (
        {"energy_smoother": "ballistics", "knee": "hard"},
        lambda r: _ballistics_z(2.0, 40.0, r),
        {"threshold_db": -30.0, "ratio": 3.0},
    ),
}


def _stft_reverb(**kw):
    def make(rate: float):
        from grafx.processors.reverb import STFTMaskedNoiseReverb

        return STFTMaskedNoiseReverb(sample_rate=rate, **kw)

    return make


def _fdn(rate: float):
    """FDNReverb: 8 lines of 20-38 ms at 30 kHz (Freeverb's combs: 25-37 ms), T60 0.05-3 s in
    4 bands (the IR, 4 s at 30 kHz, holds 80 dB of a 3 s T60)."""
    from grafx.processors.fdn import FDNReverb

    return FDNReverb(sample_rate=rate, t60_max=3.0, num_bands=4)


def _fdn_init(processor, values: dict) -> None:
    """Zero gains give a zero IR (and no gradient to the gains): start at seeded random gains
    of unit IR energy, fully wet inside (the console's gate sets the mix)."""
    g = torch.Generator().manual_seed(0)
    n, M = values["input_gains"].shape
    b = torch.randn(M, generator=g, dtype=torch.float64) / M**0.5
    c = torch.randn(2, M, generator=g, dtype=torch.float64) / M**0.5
    z = torch.zeros(1, processor.num_bands, dtype=torch.float64)
    h = processor.impulse_response(z, b[None], c[None])
    c = c / h.pow(2).sum(-1).mean().sqrt()
    dtype = values["input_gains"].dtype
    values["input_gains"][:] = b.to(dtype)
    values["output_gains"][:] = c.to(dtype)
    values["z_mix"][:] = 4.0


def _fns(rate: float):
    """FilteredNoiseShapingReverb: 12 bands of noise, T60 0.05-4 s, a 2.2 s IR at 30 kHz."""
    from grafx.processors.reverb import FilteredNoiseShapingReverb

    return FilteredNoiseShapingReverb(ir_len=2**16, sr=rate, max_decay_ms=4000.0)


#: reverb variants: name -> (reverb factory of the sample rate, initial-parameter hook or None)
#: (the console's: STFTMaskedNoiseReverb(ir_len=2**14))
REVERBS = {
    "reverb_long": (_stft_reverb(ir_len=2**16), None),
    "reverb_32k": (_stft_reverb(ir_len=2**15), None),
    "fdn": (_fdn, _fdn_init),
    "fns": (_fns, None),
}


def run_variant(name: str, folder: Path, names: list[str], args) -> dict:
    from grafx.fit import run as fit_run
    from grafx.fit.options import FitOptions
    from grafx.presets import console_parameters, console_processors

    if "+" in name:  # compressor variant + reverb variant
        name, reverb = name.split("+")
    else:
        reverb = None
    if name in REVERBS:
        name, reverb = "paper", name
    elif name.startswith("peak_") and name[5:] in REVERBS:  # the peak console, reverb swapped
        name, reverb = "peak", name[5:]
    if name == "peak":  # the console preset itself (console_processors(preset="peak"))
        kwargs, z_init, settings = {}, None, {}
    else:
        kwargs, z_init, settings = VARIANTS[name]

    def processors_for(**kw):
        # the variant's console (the fit would build the paper's: it is given an init)
        procs = console_processors(**{**kw, "preset": "peak" if name == "peak" else "paper"})
        if "reverb" in procs and reverb is not None:
            procs["reverb"] = REVERBS[reverb][0](float(kw.get("sample_rate") or 44100.0))
        if "compressor" in procs and kwargs:
            from grafx.processors.dynamics import Compressor

            procs["compressor"] = Compressor(
                iir_len=4096, sample_rate=kw.get("sample_rate") or 44100.0, **kwargs
            )
        return procs

    def initial(G, processors, stems, target, sample_rate):
        parameters = console_parameters(G, processors, sample_rate)
        if reverb is not None and REVERBS[reverb][1] is not None and "reverb" in parameters:
            REVERBS[reverb][1](processors["reverb"], parameters["reverb"])
        if "compressor" in parameters:
            comp = parameters["compressor"]
            if z_init is not None:
                z = torch.tensor(z_init(float(sample_rate)), dtype=comp["z_alpha_pre"].dtype)
                comp["z_alpha_pre"][:] = z
            if settings:
                from grafx.mixing.console import set_node_settings

                for node, data in G.nodes(data=True):
                    if data["node_type"] == "compressor":
                        set_node_settings(parameters, G, node, processors, **settings)
        return parameters

    fit_run.console_processors = processors_for  # the console of this variant
    options = FitOptions(
        stems=[str(folder / f"{n}.wav") for n in names],
        target=str(folder / "target.wav"),
        out=str(folder / f"fit_{name}_{reverb}"),
        steps=args.steps,
        minutes=args.minutes,
        seed=0,
        restart=True,
        progress=False,
        init="variant",
        console="peak" if name == "peak" else "paper",
    )
    began = time.perf_counter()
    fit_run.run_fit(options, initial)
    return {"wall_s": time.perf_counter() - began, "out": options.out}


def main(argv=None) -> int:
    from fit_quality import EFFECTS, make_target

    from grafx.baseline import least_squares_gain_mix
    from grafx.io.audio import read_audio, write_audio
    from grafx.metrics import mix_metrics

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="soundfont")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--effects", default=",".join(EFFECTS))
    p.add_argument("--variants", default="paper")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--minutes", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--sample-rate", type=int, default=30000)
    p.add_argument(
        "--out", default=str(Path(__file__).resolve().parent / "results" / "console_variants.jsonl")
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    effects = tuple(e for e in args.effects.split(",") if e)
    rate = args.sample_rate
    stems, names, target, _ = make_target(args.index, rate, args.seconds, 0, effects, args.source)
    gain_distance = mix_metrics(least_squares_gain_mix(stems, target).mix, target, rate)[
        "stft_distance"
    ]
    with tempfile.TemporaryDirectory(prefix="console_variants_") as tmp:
        folder = Path(tmp)
        for n, s in zip(names, stems, strict=True):
            write_audio(folder / f"{n}.wav", s, rate)
        write_audio(folder / "target.wav", target, rate)
        for name in args.variants.split(","):
            info = run_variant(name, folder, names, args)
            fitted, _ = read_audio(Path(info["out"]) / "fitted.wav")
            distance = mix_metrics(fitted, target, rate)["stft_distance"]
            row = {
                "source": args.source,
                "index": args.index,
                "effects": args.effects,
                "variant": name,
                "steps": args.steps,
                "seconds": args.seconds,
                "fitted": distance,
                "gain": gain_distance,
                "ratio": distance / gain_distance,
                "wall_s": info["wall_s"],
                "load": os.getloadavg()[0],
                "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            }
            print(json.dumps(row), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
