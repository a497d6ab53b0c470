"""Audio files through soundfile: checked reads, resampling or refusal, atomic writes.

Every problem raises :class:`~grafx.errors.AudioError` with a message that starts with the file
name: a missing or unreadable file, an empty file, too many channels, NaN/Inf samples, a sample
rate that differs from the one required (when resampling is off), stems of different lengths.
Writes go to a temporary file beside the destination that is moved over it only when complete,
so an error or Ctrl-C never leaves a half-written file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from grafx.errors import AudioError, GraphFileError
from grafx.io.atomic import atomic_write
from grafx.io.files import check_regular_file

__all__ = ["read_audio", "write_audio", "read_stems", "resample", "check_finite", "to_stereo"]

MAX_CHANNELS = 2
#: Largest sample magnitude read (+60 dB over full scale; float files may exceed 1).
MAX_PEAK = 1000.0


def check_finite(audio: Tensor | np.ndarray, where: str) -> None:
    """Raise :class:`AudioError` naming ``where`` and the first bad sample if audio has NaN/Inf."""
    array = audio.detach().cpu().numpy() if isinstance(audio, Tensor) else np.asarray(audio)
    bad = ~np.isfinite(array)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), array.shape)
        kind = "NaN" if np.isnan(array[index]) else "Inf"
        raise AudioError(
            f"{where}: audio contains {int(bad.sum())} NaN/Inf samples (first: {kind} at "
            f"sample {int(index[-1])})"
        )


def resample(audio: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """Polyphase resampling (``scipy.signal.resample_poly``) of ``(..., L)`` audio.

    Args:
        audio: audio, ``(..., L)``.
        orig_rate: its sample rate in Hz.
        new_rate: the wanted rate in Hz.

    Returns:
        ``(..., L')`` with ``L' = ceil(L * new_rate / orig_rate)``, same dtype.
    """
    if orig_rate == new_rate:
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_rate), int(new_rate))
    out = resample_poly(audio.detach().cpu().numpy(), new_rate // g, orig_rate // g, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(out)).to(dtype=audio.dtype, device=audio.device)


def to_stereo(audio: Tensor, where: str = "audio") -> Tensor:
    """``(1, L)`` is duplicated to ``(2, L)``; ``(2, L)`` is returned as is; else AudioError."""
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise AudioError(
            f"{where}: expected mono or stereo audio (C, L) with C = 1 or 2, "
            f"got shape {tuple(audio.shape)}"
        )
    return audio.expand(2, -1).clone() if audio.shape[0] == 1 else audio


def read_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    resample_to_rate: bool = True,
    max_channels: int = MAX_CHANNELS,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, int]:
    """Read an audio file as a ``(C, L)`` tensor.

    Args:
        path: the file (any format soundfile reads: WAV, FLAC, OGG, AIFF, ...).
        sample_rate: required sample rate; ``None`` keeps the file's.
        resample_to_rate: resample to ``sample_rate`` if the file differs; if False, refuse.
        max_channels: most channels accepted.
        dtype: floating dtype of the result.

    Returns:
        ``(audio, sample_rate)`` with audio ``(C, L)``.

    Raises:
        AudioError: missing, unreadable or empty file; too many channels; NaN/Inf samples;
            a sample-rate mismatch with ``resample_to_rate=False``.
    """
    import soundfile as sf

    path = Path(path)
    if path.is_dir() or not path.exists():
        what = "is a directory, not an audio file" if path.is_dir() else "no such file"
        raise AudioError(f"{path}: {what}")
    try:
        check_regular_file(path, "audio")
        with open(path, "rb"):
            pass
    except GraphFileError as error:
        raise AudioError(str(error)) from None
    except OSError as error:
        raise AudioError(f"{path}: cannot read audio: {error.strerror or error}") from None
    try:
        data, file_rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        raise AudioError(f"{path}: cannot read audio: {_short(error)}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file has no samples")
    if data.shape[1] > max_channels:
        raise AudioError(
            f"{path}: {data.shape[1]} channels; only mono or stereo (at most {max_channels}) "
            "are supported"
        )
    check_finite(data.T, str(path))
    peak = float(np.abs(data).max())
    if peak > MAX_PEAK:
        raise AudioError(
            f"{path}: peak {peak:.3g} is {20 * math.log10(peak):.0f} dB over full scale; a "
            f"float file scaled this far (more than {MAX_PEAK:g}) is not audio a mix can match; "
            "normalise it"
        )
    audio = torch.from_numpy(np.ascontiguousarray(data.T)).to(dtype)
    if sample_rate is not None and file_rate != sample_rate:
        if not resample_to_rate:
            raise AudioError(
                f"{path}: sample rate {file_rate} Hz differs from the required {sample_rate} Hz "
                "(resampling is off)"
            )
        audio = resample(audio, file_rate, sample_rate)
        file_rate = sample_rate
    return audio, int(file_rate)


ALIGN_MODES = ("refuse", "pad", "trim")


def align_lengths(signals: Sequence[Tensor], mode: str) -> list[Tensor]:
    """Bring signals ``(..., L_i)`` to one length (their other dimensions may differ).

    ``"pad"`` appends zeros up to the longest, ``"trim"`` cuts the ends down to the shortest,
    ``"refuse"`` returns them unchanged (the caller reports the mismatch in its own words).

    Raises:
        AudioError: an unknown mode.
    """
    if mode not in ALIGN_MODES:
        raise AudioError(f"align must be one of {ALIGN_MODES}, got {mode!r}")
    lengths = [s.shape[-1] for s in signals]
    if mode == "refuse" or len(set(lengths)) <= 1:
        return list(signals)
    if mode == "pad":
        return [torch.nn.functional.pad(s, (0, max(lengths) - s.shape[-1])) for s in signals]
    return [s[..., : min(lengths)] for s in signals]


def read_stems(
    paths: Sequence[str | os.PathLike],
    sample_rate: int | None = None,
    resample_to_rate: bool = True,
    align: str = "refuse",
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, int]:
    """Read stems as one stereo tensor ``(K, 2, L)`` (mono stems are duplicated to stereo).

    Args:
        paths: the stem files, in graph ``in``-node order.
        sample_rate: common rate; ``None`` takes the first stem's.
        resample_to_rate: resample stems at other rates; if False, refuse them.
        align: what to do with different lengths: ``"refuse"``, ``"pad"`` (zeros at the end,
            up to the longest) or ``"trim"`` (cut to the shortest).
        dtype: floating dtype.

    Returns:
        ``(stems, sample_rate)``.
    """
    if align not in ALIGN_MODES:
        raise AudioError(f"read_stems: align must be 'refuse', 'pad' or 'trim', got {align!r}")
    if not paths:
        raise AudioError("read_stems: no stem files given")
    stems = []
    rate: int = 0
    for path in paths:
        audio, rate = read_audio(path, rate or sample_rate, resample_to_rate, dtype=dtype)
        stems.append(to_stereo(audio, str(path)))
    lengths = [s.shape[-1] for s in stems]
    if len(set(lengths)) > 1:
        if align == "refuse":
            listing = ", ".join(
                f"{Path(p).name}: {n / rate:.3f} s" for p, n in zip(paths, lengths, strict=True)
            )
            raise AudioError(
                f"{paths[lengths.index(min(lengths))]}: stems have different lengths "
                f"({listing}); trim them to one length, or zero-pad / trim them on reading "
                "(grafx fit --align pad|trim; align='pad'|'trim')"
            )
        stems = align_lengths(stems, align)
    return torch.stack(stems), int(rate)  # type: ignore[arg-type]  # set by the first read


_SUBTYPES = {"WAV": "FLOAT", "AIFF": "FLOAT", "FLAC": "PCM_24"}


def write_audio(
    path: str | os.PathLike, audio: Tensor, sample_rate: int, subtype: str | None = None
) -> Path:
    """Write ``(C, L)`` audio atomically (temporary file, then rename).

    Args:
        path: destination; the format comes from its extension (``.wav``, ``.flac``, ...).
        audio: ``(C, L)`` or ``(L,)``.
        sample_rate: in Hz.
        subtype: soundfile subtype; default 32-bit float for WAV/AIFF (mixes may exceed full
            scale without clipping), 24-bit PCM for FLAC.

    Returns:
        The path written.

    Raises:
        AudioError: NaN/Inf samples, an unknown extension, or the file cannot be written.
    """
    import soundfile as sf

    path = Path(path)
    audio = audio.detach().cpu()
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise AudioError(f"{path}: expected audio (C, L), got shape {tuple(audio.shape)}")
    check_finite(audio, str(path))
    file_format = path.suffix[1:].upper()
    if file_format not in sf.available_formats():
        raise AudioError(f"{path}: unknown audio format {path.suffix!r}; use .wav or .flac")
    subtype = subtype or _SUBTYPES.get(file_format)
    data = audio.to(torch.float64).numpy().T
    if subtype and subtype.startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    try:
        with atomic_write(path) as file:
            sf.write(file, data, int(sample_rate), subtype=subtype, format=file_format)
    except OSError as error:
        raise AudioError(f"{path}: cannot write: {error.strerror or _short(error)}") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, AssertionError) as error:
        # soundfile asserts that every frame was written: a full disk ends up here.
        detail = _short(error) if not isinstance(error, AssertionError) else "a short write"
        raise AudioError(f"{path}: cannot write: {detail} (is the disk full?)") from None
    return path


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
