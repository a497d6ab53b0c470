"""``grafx evaluate``: the metrics of one mix against another (and of a least-squares gain mix)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from grafx.cli.common import CLIError

EXAMPLES = """examples:
  grafx evaluate my-fit/fitted.wav mix.wav
  grafx evaluate my-fit/fitted.wav mix.wav --baseline --stems stems/*.wav
  grafx evaluate a.wav b.wav --json metrics.json

metrics (grafx.metrics.mix_metrics), all of the first file against the second:
  mix_loss          the mixing-graphs paper's A-weighted mel STFT loss, L/R + M/S (lower is better)
  stft_distance     multi-resolution STFT distance, FFT 512/1024/2048 (lower is better)
  snr_db            signal-to-noise ratio in dB (higher is better; inf for identical audio)
  loudness_diff_lu  integrated loudness (BS.1770) of the first minus the second, in LU (0 is
                    best; nan for audio shorter than 0.4 s, +-inf when one of them is silent)
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="metrics of a mix against a target mix (and of the least-squares gain mix)",
        description=(
            "Print the metrics of MIX against TARGET: the mix loss, the multi-resolution STFT "
            "distance, the SNR and the integrated loudness difference. Both files must have "
            "the same sample rate and length (mono is used as dual mono). With --baseline and "
            "the stems, also print those of the least-squares gain mix (one gain per stem and "
            "output channel, the best a set of static faders and pans can do) and of the plain "
            "sum of the stems."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("mix", metavar="MIX", help="the mix to measure (e.g. a fit's fitted.wav)")
    p.add_argument("target", metavar="TARGET", help="the reference mix")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also measure the least-squares gain mix and the plain sum of --stems",
    )
    p.add_argument(
        "--stems", nargs="+", default=None, metavar="AUDIO", help="stem files (for --baseline)"
    )
    p.add_argument("--json", default=None, metavar="OUT", help="also write the metrics as JSON")
    p.set_defaults(run=run)


def _read(args):
    from grafx.io.audio import read_audio, read_stems, to_stereo

    mix, mix_rate = read_audio(args.mix, dtype=_float64())
    target, rate = read_audio(args.target, dtype=_float64())
    if mix_rate != rate:
        raise CLIError(
            f"{args.mix}: sample rate {mix_rate} Hz differs from {args.target}'s {rate} Hz; "
            "resample one of them first"
        )
    mix, target = to_stereo(mix, args.mix), to_stereo(target, args.target)
    if mix.shape[-1] != target.shape[-1]:
        raise CLIError(
            f"{args.mix}: {mix.shape[-1]} samples but {args.target} has {target.shape[-1]}; "
            "the mixes must have one length"
        )
    stems = None
    if args.baseline:
        stems, _ = read_stems(args.stems, rate, resample_to_rate=False, dtype=_float64())
        if stems.shape[-1] != target.shape[-1]:
            raise CLIError(
                f"{args.stems[0]}: the stems have {stems.shape[-1]} samples but {args.target} "
                f"has {target.shape[-1]}; they must have one length"
            )
    return mix, target, stems, rate


def _float64():
    import torch

    return torch.float64


def _cell(value: float) -> str:
    return f"{value:>12.4f}" if math.isfinite(value) else f"{value!s:>12}"


def run(args) -> int:
    from grafx.fit.summary import write_summary
    from grafx.metrics import mix_metrics

    if args.baseline and not args.stems:
        raise CLIError("--baseline needs the stems: --stems A.wav B.wav ...")
    if args.stems and not args.baseline:
        raise CLIError("--stems are only used by --baseline; add --baseline")
    if args.json is not None and not Path(args.json).parent.is_dir():
        raise CLIError(f"{args.json}: the folder {Path(args.json).parent} does not exist")
    mix, target, stems, rate = _read(args)
    columns = {Path(args.mix).name: mix_metrics(mix, target, rate)}
    report = {"mix": args.mix, "target": args.target, "sample_rate": rate}
    if stems is not None:
        from grafx.baseline import least_squares_gain_mix

        gain_mix = least_squares_gain_mix(stems, target)
        columns["gain mix"] = mix_metrics(gain_mix.mix, target, rate)
        columns["sum"] = mix_metrics(stems.sum(0), target, rate)
        report["least_squares_gains"] = {
            path: {"left": float(g[0]), "right": float(g[1])}
            for path, g in zip(args.stems, gain_mix.gains, strict=True)
        }
    print(
        f"grafx evaluate: {args.mix} against {args.target} "
        f"({target.shape[-1] / rate:.2f} s at {rate} Hz)"
    )
    print(f"  {'metric':<18}" + "".join(f"{name[-12:]:>12}" for name in columns))
    for metric in next(iter(columns.values())):
        print(f"  {metric:<18}" + "".join(_cell(c[metric]) for c in columns.values()))
    if stems is not None:
        print("least-squares gains (linear, into left / right):")
        for path, gains in report["least_squares_gains"].items():
            print(f"  {Path(path).name:<24} {gains['left']:>9.4f} {gains['right']:>9.4f}")
    if args.json is not None:
        report["metrics"] = columns
        write_summary(args.json, report)  # strict JSON: non-finite values as strings
        print(f"wrote {args.json}")
    return 0
