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
  grafx evaluate my-fit/fitted.wav mix.wav --baseline --stems stems/*.wav --plot balance.png

metrics (grafx.metrics.mix_metrics), all of the first file against the second:
  mix_loss          the mixing-graphs paper's A-weighted mel STFT loss, L/R + M/S (lower is better)
  stft_distance     multi-resolution STFT distance, FFT 512/1024/2048 (lower is better)
  snr_db            waveform signal-to-noise ratio in dB (higher is better; inf for identical
                    audio); sample by sample, so a mix with the target's spectra and levels but
                    other phases (reverb, delay, filters) scores low: read the descriptors
  loudness_diff_lu  integrated loudness (BS.1770) of the first minus the second, in LU (0 is
                    best; nan for audio shorter than 0.4 s)
mix descriptors (grafx.metrics.descriptor_errors), of the first against the second:
  band_rms_db, band_max_db   rms / largest error of the mid third-octave band levels, 40 Hz to
                             16 kHz (or the top band the rate holds), in dB
  side_band_rms_db           the same for the side, over bands within 60 dB of the loudest mid
  width_rms_db               rms error of the width (side minus mid level) per band, in dB
  loudness_range_diff_lu     EBU loudness range difference (nan below 3 s)
  crest_diff_db              crest factor (peak over RMS) difference
a MIX at another rate than TARGET is resampled to TARGET's; lengths that differ by up to 50 ms
are aligned (the MIX's end zero-padded or cut). The files are read block by block and every
value is accumulated over the blocks, so memory does not grow with the length (a file at
another rate is read whole and resampled).
"""

#: Largest length difference (seconds) that evaluate aligns instead of refusing.
ALIGN_SECONDS = 0.05


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="metrics of a mix against a target mix (and of the least-squares gain mix)",
        description=(
            "Print the metrics of MIX against TARGET: the mix loss, the multi-resolution STFT "
            "distance, the SNR, the integrated loudness difference and the mix descriptors "
            "(third-octave band levels of mid and side, width, loudness range, crest factor). "
            "MIX is compared at TARGET's sample rate (resampled if it differs); lengths that "
            "differ by up to 50 ms are aligned (mono is used as dual mono). With --baseline and "
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
    p.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="draw the band-level errors (mid and side) against frequency, with the gain mix "
        "beside MIX when --baseline is given",
    )
    p.set_defaults(run=run)


#: Frames per read of the validation pass over a file.
_VALIDATE_FRAMES = 1 << 18


class _FileAudio:
    """An audio file read block by block as stereo float64 (mono used as dual mono), zero
    outside its first ``limit`` samples; opened and checked up front by one streaming pass
    (the checks of :func:`grafx.io.audio.read_audio`: a regular, readable file with samples,
    at most two channels, finite, peak within :data:`grafx.io.audio.MAX_PEAK`)."""

    def __init__(self, path: str):
        import numpy as np
        import soundfile as sf

        from grafx.errors import AudioError, GraphFileError
        from grafx.io.audio import MAX_CHANNELS, MAX_PEAK
        from grafx.io.files import check_regular_file

        where = Path(path)
        if where.is_dir() or not where.exists():
            what = "is a directory, not an audio file" if where.is_dir() else "no such file"
            raise AudioError(f"{path}: {what}")
        try:
            check_regular_file(where, "audio")
            self.file = sf.SoundFile(str(where))
        except GraphFileError as error:
            raise AudioError(str(error)) from None
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
            lines = str(error).strip().splitlines()
            raise AudioError(
                f"{path}: cannot read audio: {lines[0] if lines else type(error).__name__}"
            ) from None
        self.path, self.rate = path, int(self.file.samplerate)
        self.frames, self.channels = int(self.file.frames), int(self.file.channels)
        if self.frames == 0:
            raise AudioError(f"{path}: the file has no samples")
        if self.channels > MAX_CHANNELS:
            raise AudioError(
                f"{path}: {self.channels} channels; only mono or stereo (at most {MAX_CHANNELS}) "
                "are supported"
            )
        self.peak = 0.0
        for start in range(0, self.frames, _VALIDATE_FRAMES):
            block = self._raw(start, min(start + _VALIDATE_FRAMES, self.frames))
            bad = ~np.isfinite(block)
            if bad.any():
                count, first = int(bad.sum()), int(np.argmax(bad.any(0)))
                kind = "NaN" if np.isnan(block[:, first]).any() else "Inf"
                raise AudioError(
                    f"{path}: audio contains {count} or more NaN/Inf samples (first: {kind} at "
                    f"sample {start + first})"
                )
            self.peak = max(self.peak, float(np.abs(block).max()))
        if self.peak > MAX_PEAK:
            raise AudioError(
                f"{path}: peak {self.peak:.3g} is {20 * math.log10(self.peak):.0f} dB over full "
                f"scale; a float file scaled this far (more than {MAX_PEAK:g}) is not audio a mix "
                "can match; normalise it"
            )
        self.limit = self.frames

    def _raw(self, start: int, stop: int):
        """Frames ``[start, stop)`` inside the file, ``(channels, n)`` float64."""
        self.file.seek(start)
        return self.file.read(stop - start, dtype="float64", always_2d=True).T

    def __call__(self, start: int, stop: int):
        import numpy as np

        out = np.zeros((2, stop - start))
        lo, hi = max(start, 0), min(stop, self.limit)
        if hi > lo:
            out[:, lo - start : hi - start] = self._raw(lo, hi)  # mono broadcasts to both
        return out


def _open(path: str, rate: int | None):
    """A reader of ``path`` at ``rate`` (``None``: the file's), its length and its peak: the
    file read block by block, or, at another rate, read whole (float32) and resampled."""
    audio = _FileAudio(path)
    if rate is None or audio.rate == rate:
        return audio, audio.frames, audio.peak
    audio.file.close()
    from grafx.io.audio import read_audio, to_stereo
    from grafx.metrics import tensor_reader

    resampled, _ = read_audio(path, rate, resample_to_rate=True, dtype=_float32())
    resampled = to_stereo(resampled, path)
    return tensor_reader(resampled), resampled.shape[-1], float(resampled.abs().max())


def _check_length(length: int, wanted: int, rate: int, where: str, reference: str) -> None:
    """Lengths that differ by more than :data:`ALIGN_SECONDS` are a :class:`CLIError`."""
    if abs(length - wanted) > ALIGN_SECONDS * rate:
        raise CLIError(
            f"{where}: {length} samples at {rate} Hz but {reference} has {wanted} "
            f"({abs(length - wanted) / rate:.3f} s apart; up to {ALIGN_SECONDS * 1000:g} ms is "
            "aligned); trim them to one length"
        )


def _limit(reader, length: int):
    """``reader`` cut (or zero-padded) at ``length`` samples."""
    if isinstance(reader, _FileAudio):
        reader.limit = min(reader.frames, length)
        return reader

    def read(start: int, stop: int):
        out = reader(start, stop)
        if stop > length:
            out[:, max(length - start, 0) :] = 0.0
        return out

    return read


def _check_not_silent(peak: float, where: str) -> None:
    if not peak > 0:
        raise CLIError(f"{where}: the audio is silent (all samples are zero); nothing to compare")


def _read(args):
    """Readers of the mix, the target and the stems (``None`` without ``--baseline``), all
    at the target's rate and length, the length and the rate."""
    target, length, peak = _open(args.target, None)
    rate = target.rate
    mix, mix_length, mix_peak = _open(args.mix, rate)
    _check_not_silent(peak, args.target)
    _check_not_silent(mix_peak, args.mix)
    _check_length(mix_length, length, rate, args.mix, args.target)
    mix = _limit(mix, length)
    stems = None
    if args.baseline:
        stems = []
        for path in args.stems:
            stem, stem_length, _ = _open(path, rate)
            _check_length(stem_length, length, rate, path, args.target)
            stems.append(_limit(stem, length))
    return mix, target, stems, length, rate


def _float32():
    """The dtype of a file read whole to be resampled (exact for PCM up to 24 bits and for
    float WAVs; every value is then computed in float64, block by block)."""
    import torch

    return torch.float32


def _stems_reader(stems):
    """Reads ``[start, stop)`` of every stem as float64 ``(K, 2, n)``; the last read is kept
    (the gain mix and the sum read the same block)."""
    import numpy as np

    last: list = []

    def read(start: int, stop: int):
        if not (last and last[0] == (start, stop)):
            last[:] = [(start, stop), np.stack([stem(start, stop) for stem in stems])]
        return last[1]

    return read


def _cell(value: float) -> str:
    return f"{value:>12.4f}" if math.isfinite(value) else f"{value!s:>12}"


def run(args) -> int:
    import numpy as np

    from grafx.fit.summary import write_summary
    from grafx.metrics import stream_comparison

    if args.baseline and not args.stems:
        raise CLIError("--baseline needs the stems: --stems A.wav B.wav ...")
    if args.stems and not args.baseline:
        raise CLIError("--stems are only used by --baseline; add --baseline")
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and not Path(path).parent.is_dir():
            raise CLIError(f"{option} {path}: the folder {Path(path).parent} does not exist")
    mix, target_reader, stems, length, rate = _read(args)
    mixes = {Path(args.mix).name: mix}
    report = {"mix": args.mix, "target": args.target, "sample_rate": rate}
    if stems is not None:
        from grafx.baseline import least_squares_gains

        read_stems = _stems_reader(stems)
        gains = least_squares_gains(read_stems, target_reader, length)
        mixes["gain mix"] = lambda start, stop: np.einsum(
            "kc,kcl->cl", gains, read_stems(start, stop)
        )
        mixes["sum"] = lambda start, stop: read_stems(start, stop).sum(0)
        report["least_squares_gains"] = {
            path: {"left": float(g[0]), "right": float(g[1])}
            for path, g in zip(args.stems, gains, strict=True)
        }
    columns: dict = {}
    bands: dict = {}
    for name, values in stream_comparison(target_reader, mixes, length, rate).items():
        bands[name] = values.pop("bands")
        values.pop("band_range_hz")
        columns[name] = values
    print(f"grafx evaluate: {args.mix} against {args.target} ({length / rate:.2f} s at {rate} Hz)")
    print(f"  {'metric':<24}" + "".join(f"{name[-12:]:>12}" for name in columns))
    for metric in next(iter(columns.values())):
        print(f"  {metric:<24}" + "".join(_cell(c[metric]) for c in columns.values()))
    if stems is not None:
        print("least-squares gains (linear, into left / right):")
        for path, gains in report["least_squares_gains"].items():
            print(f"  {Path(path).name:<24} {gains['left']:>9.4f} {gains['right']:>9.4f}")
    if args.plot is not None:
        plot_balance(args.plot, {n: bands[n] for n in list(bands)[:2]}, args.target)
        print(f"wrote {args.plot}")
    if args.json is not None:
        report["metrics"] = columns
        report["bands"] = bands
        write_summary(args.json, report)  # strict JSON: non-finite values as strings
        print(f"wrote {args.json}")
    return 0


def plot_balance(path: str, bands: dict, target_name: str) -> None:
    """Draw band-level errors (mid above, side below) against frequency, one line per mix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, values in bands.items():
        for ax, key in zip(axes, ("mid_error_db", "side_error_db"), strict=True):
            ax.semilogx(values["centre_hz"], values[key], marker="o", markersize=3, label=name)
    for ax, title in zip(axes, ("mid", "side"), strict=True):
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel(f"{title} band level error (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best")
    axes[0].set_title(f"third-octave band levels against {Path(target_name).name}")
    axes[1].set_xlabel("band centre (Hz)")
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    try:
        fig.savefig(tmp, dpi=100, format="png")
        tmp.replace(path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
