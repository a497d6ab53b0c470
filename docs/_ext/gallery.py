"""Figures of the processor gallery, drawn at build time by running the processors.

Each function draws one figure with matplotlib's current figure; the gallery pages call them
from ``.. plot::`` blocks. Settings are chosen in physical units (Hz, dB, ms, seconds) and
converted with the library's own inverse mappings, so the axes show what a user sets.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

import grafx.processors as P
from grafx.processors.functional.filter import w0_from_omega
from grafx.processors.functional.generators import z_frequency_from_frequency

SR = 44100.0
DB_PER_NEPER = 20 / math.log(10)


def _t(values, *shape) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float64).reshape(*shape)


def _impulse(n: int, channels: int = 1, batch: int = 1, at: int = 0) -> torch.Tensor:
    """Unit impulses at sample ``at``; zero-phase processors get one in the middle."""
    x = torch.zeros(batch, channels, n, dtype=torch.float64)
    x[..., at] = 1.0
    return x


def _response_db(ir: torch.Tensor, n_fft: int | None = None):
    """Frequencies (Hz) and magnitude (dB) of impulse responses ``(..., L)``."""
    n_fft = n_fft or ir.shape[-1]
    spectrum = torch.fft.rfft(ir, n=n_fft).abs().clamp_min(1e-9)
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    return freqs, (20 * torch.log10(spectrum)).detach().numpy()


def _freq_axes(ax, low=-30, high=12):
    ax.set_xscale("log")
    ax.set_xlim(20, SR / 2)
    ax.set_ylim(low, high)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("magnitude (dB)")


def _w0(hz):
    return w0_from_omega(_t(2 * math.pi * np.asarray(hz, dtype=float) / SR, -1))


def _q_inv(q):
    return _t(-np.log(np.asarray(q, dtype=float)), -1)


# --------------------------------------------------------------------------------------------
# Filters and EQs


def biquad_filters() -> None:
    """Magnitude responses of the RBJ biquads at 100 Hz, 1 kHz and 10 kHz (Q 0.707, 6 dB)."""
    kinds = [
        ("LowPassFilter", 0),
        ("HighPassFilter", 0),
        ("BandPassFilter", 0),
        ("BandRejectFilter", 0),
        ("PeakingFilter", 6),
        ("LowShelf", 6),
        ("HighShelf", 6),
        ("AllPassFilter", 0),
    ]
    cutoffs = [100.0, 1000.0, 10000.0]
    fig, axes = plt.subplots(2, 4, figsize=(10, 4.6), sharex=True, sharey=True)
    for ax, (name, gain_db) in zip(axes.flat, kinds, strict=True):
        processor = getattr(P, name)()
        x = _impulse(8192, batch=len(cutoffs))
        params = {"w0": _w0(cutoffs).reshape(-1, 1), "q_inv": _q_inv([0.707] * 3).reshape(-1, 1)}
        if "log_gain" in processor.parameter_size():
            params["log_gain"] = _t([gain_db * math.log(10) / 40] * 3, -1, 1)
        y = processor(x, **params)
        freqs, db = _response_db(y[:, 0])
        for row, hz in zip(db, cutoffs, strict=True):
            ax.plot(freqs, row, label=f"{hz:g} Hz")
        ax.set_title(name)
        _freq_axes(ax)
        ax.set_xlabel("")
        ax.set_ylabel("")
    axes[0, 0].legend(fontsize=7)
    fig.supxlabel("frequency (Hz)")
    fig.supylabel("magnitude (dB)")
    fig.tight_layout()


def parametric_eq() -> None:
    """ParametricEqualizer from physical settings: gains in dB at four frequencies."""
    eq = P.ParametricEqualizer(num_filters=4)
    fig, ax = plt.subplots()
    for gains in ([6, -4, 3, -6], [-6, 6, -6, 6], [0, 0, 0, 0]):
        settings = {"eq_gains_db": gains, "eq_freqs_hz": [120, 700, 3000, 8000], "eq_q": 1.0}
        params = {k: v.unsqueeze(0) for k, v in eq.settings_to_parameters(settings).items()}
        y = eq(_impulse(8192), **params)
        freqs, db = _response_db(y[:, 0])
        ax.plot(freqs, db[0], label=f"gains {gains} dB")
    _freq_axes(ax, -10, 10)
    ax.set_title("ParametricEqualizer: 120, 700, 3000, 8000 Hz, Q 1")
    ax.legend(fontsize=7)
    fig.tight_layout()


def graphic_eq() -> None:
    """GraphicEqualizer (24 Bark bands): one band at +6 dB, alternate bands at +-6 dB."""
    geq = P.GraphicEqualizer(sr=SR)
    num_bands = geq.parameter_size()["log_gains"][-1]
    fig, ax = plt.subplots()
    one = np.zeros(num_bands)
    one[10] = 6
    alternate = np.where(np.arange(num_bands) % 2 == 0, 6.0, -6.0)
    for label, gains_db in (("band 10 at +6 dB", one), ("alternate +-6 dB", alternate)):
        log_gains = _t(gains_db * math.log(10) / 20, 1, 1, -1)
        y = geq(_impulse(16384), log_gains=log_gains)
        freqs, db = _response_db(y[:, 0])
        ax.plot(freqs, db[0], label=label)
    _freq_axes(ax, -10, 10)
    ax.set_title("GraphicEqualizer (Bark bands, sample rate 44.1 kHz)")
    ax.legend(fontsize=7)
    fig.tight_layout()


def zero_phase_eq() -> None:
    """NewZeroPhaseFIREqualizer: a smooth log-magnitude curve becomes a zero-phase FIR."""
    eq = P.NewZeroPhaseFIREqualizer(num_frequency_bins=256)
    bins = eq.parameter_size()["log_magnitude"][-1]
    f = np.linspace(0, 1, bins)
    target_db = 6 * np.sin(2 * np.pi * 3 * f) * np.exp(-2 * f)
    impulse = _impulse(4096, at=2048)  # zero phase: the response is two-sided
    y = eq(impulse, log_magnitude=_t(target_db * math.log(10) / 20, 1, 1, -1))
    freqs, db = _response_db(torch.roll(y[:, 0], -2048, dims=-1))
    fig, ax = plt.subplots()
    ax.plot(freqs, db[0], label="response")
    ax.plot(f * SR / 2, target_db, "--", label="log_magnitude (dB)")
    ax.set_xscale("linear")
    ax.set_xlim(0, SR / 2)
    ax.set_ylim(-10, 10)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("magnitude (dB)")
    ax.set_title("NewZeroPhaseFIREqualizer, 256 bins")
    ax.legend(fontsize=7)
    fig.tight_layout()


def crossover() -> None:
    """LinkwitzRileyCrossover: three bands at 300 Hz and 3 kHz, and their sum."""
    xo = P.LinkwitzRileyCrossover(num_bands=3, sample_rate=SR)
    z = z_frequency_from_frequency(_t([300.0, 3000.0], 1, 2), SR)
    bands = xo(_impulse(16384, at=8192), z_frequency=z)  # zero phase: two-sided responses
    fig, ax = plt.subplots()
    for i, band in enumerate(bands):
        freqs, db = _response_db(torch.roll(band[:, 0], -8192, dims=-1))
        ax.plot(freqs, db[0], label=f"band {i}")
    freqs, db = _response_db(torch.roll(sum(bands)[:, 0], -8192, dims=-1))
    ax.plot(freqs, db[0], "k--", label="sum")
    _freq_axes(ax, -40, 6)
    ax.set_title("LinkwitzRileyCrossover, order 4, 300 Hz and 3 kHz")
    ax.legend(fontsize=7)
    fig.tight_layout()


# --------------------------------------------------------------------------------------------
# Dynamics


def _dynamics_processor(name: str):
    return getattr(P, name)(iir_len=4096) if name != "Expander" else P.Expander(iir_len=4096)


def _steady_level_db(processor, params, level_db: np.ndarray, n: int = 8192) -> np.ndarray:
    """Output RMS level (dB) of a 1 kHz sine at each input RMS level, after it settles."""
    t = torch.arange(n, dtype=torch.float64) / SR
    amplitude = torch.as_tensor(10 ** (level_db / 20) * math.sqrt(2), dtype=torch.float64)
    x = (amplitude[:, None] * torch.sin(2 * math.pi * 1000 * t)).unsqueeze(1)
    batch = {k: v.expand(len(level_db), *v.shape[1:]) for k, v in params.items()}
    y = processor(x, **batch)[..., n // 2 :]
    return (10 * torch.log10(y.pow(2).mean(dim=(-1, -2)).clamp_min(1e-20))).detach().numpy()


def dynamics_curves() -> None:
    """Static curves: output level against input level of a steady sine."""
    level_db = np.linspace(-70, 0, 36)
    cases = [
        ("Compressor", {"threshold_db": -30, "ratio": 4, "knee_db": 6}),
        ("NoiseGate", {"threshold_db": -40, "ratio": 4, "knee_db": 6}),
        ("Expander", {"threshold_db": -30, "ratio": 2, "knee_db": 6}),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), sharey=True)
    for ax, (name, settings) in zip(axes, cases, strict=True):
        processor = _dynamics_processor(name)
        params = {
            k: v.reshape(1, -1) for k, v in processor.settings_to_parameters(settings).items()
        }
        params = {**_dynamics_defaults(processor), **params}
        out = _steady_level_db(processor, params, level_db)
        ax.plot(level_db, out, label="output")
        ax.plot(level_db, level_db, "k:", label="unity")
        ax.axvline(settings["threshold_db"], color="grey", lw=0.8)
        ax.set_title(f"{name}: " + ", ".join(f"{k} {v}" for k, v in settings.items()), fontsize=8)
        ax.set_xlabel("input level (dB RMS)")
    axes[0].set_ylabel("output level (dB RMS)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()


def _dynamics_defaults(processor) -> dict:
    """Every parameter at zero (the settings fill in the ones they set)."""
    return {
        k: torch.zeros(1, *((s,) if isinstance(s, int) else s), dtype=torch.float64)
        for k, s in processor.parameter_size().items()
    }


def compressor_envelope() -> None:
    """A Compressor and a Limiter on a tone burst: the gain follows the level."""
    n = int(0.6 * SR)
    t = torch.arange(n, dtype=torch.float64) / SR
    envelope = torch.where((t > 0.1) & (t < 0.35), 1.0, 0.1)
    x = (envelope * torch.sin(2 * math.pi * 440 * t)).reshape(1, 1, -1)
    comp = P.Compressor(iir_len=4096)
    params = {**_dynamics_defaults(comp)}
    settings = {"threshold_db": -20, "ratio": 8, "knee_db": 6}
    params.update({k: v.reshape(1, -1) for k, v in comp.settings_to_parameters(settings).items()})
    y = comp(x, **params)
    limiter = P.Limiter(lookahead_len=256)
    z = limiter(x, log_threshold=_t([math.log(0.3)], 1, 1))  # ceiling T = e^v
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    ms = t.numpy() * 1000
    for ax, out, label in (
        (axes[0], y, "Compressor: -20 dB, 8:1, knee 6 dB"),
        (axes[1], z, "Limiter: ceiling 0.3, look-ahead 256"),
    ):
        ax.plot(ms, x[0, 0].numpy(), lw=0.4, color="0.75", label="input")
        ax.plot(ms, out[0, 0].detach().numpy(), lw=0.4, label="output")
        ax.set_title(label)
        ax.set_xlabel("time (ms)")
    axes[0].set_ylabel("amplitude")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("A 440 Hz tone, 20 dB louder from 100 to 350 ms", fontsize=9)
    fig.tight_layout()


# --------------------------------------------------------------------------------------------
# Reverbs and delays


def _decay_db(ir: np.ndarray) -> np.ndarray:
    """Schroeder's backward-integrated energy decay curve in dB."""
    energy = np.cumsum(ir[::-1] ** 2)[::-1]
    return 10 * np.log10(np.maximum(energy / energy[0], 1e-12))


def reverb_irs() -> None:
    """Impulse responses and energy decay of the noise reverbs and the FDN."""
    torch.manual_seed(0)
    n = int(SR)
    cases = []
    stft = P.STFTMaskedNoiseReverb(ir_len=n, processor_channel="mono")
    sizes = stft.parameter_size()
    bins = sizes["init_log_magnitude"][-1]
    decay = _t(np.full(bins, -0.05), 1, 1, -1)  # log magnitude change per frame
    init = _t(np.full(bins, -3.0), 1, 1, -1)
    cases.append(("STFTMaskedNoiseReverb", stft(_impulse(n), init, decay)))
    fns = P.FilteredNoiseShapingReverb(ir_len=n, processor_channel="mono", sr=SR)
    k = fns.parameter_size()["log_decay"][-1]
    cases.append(
        (
            "FilteredNoiseShapingReverb",
            fns(_impulse(n), _t(np.full(k, 1.0), 1, 1, -1), _t(np.full(k, -2.0), 1, 1, -1)),
        )
    )
    fdn = P.FDNReverb(ir_len=n, sample_rate=SR)
    fsizes = fdn.parameter_size()
    fparams = {
        key: torch.full((1, *((s,) if isinstance(s, int) else s)), 0.3, dtype=torch.float64)
        for key, s in fsizes.items()
    }
    fparams["z_mix"] = _t([4.0], 1, 1)
    cases.append(("FDNReverb", fdn(_impulse(n), **fparams)))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    ms = np.arange(n) / SR * 1000
    for name, y in cases:
        ir = y[0, 0].detach().numpy()
        axes[0].plot(ms, ir / (np.abs(ir).max() + 1e-12), lw=0.3, label=name, alpha=0.7)
        axes[1].plot(ms, _decay_db(ir), label=name)
    axes[0].set_xlabel("time (ms)")
    axes[0].set_ylabel("IR (peak-normalised)")
    axes[1].set_xlabel("time (ms)")
    axes[1].set_ylabel("energy decay (dB)")
    axes[1].set_ylim(-80, 3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()


def delay_taps() -> None:
    """MultitapDelay: the impulse response of three active taps."""
    delay = P.MultitapDelay(segment_len=2000, num_segments=8, processor_channel="mono")
    sizes = delay.parameter_size()
    num_taps = sizes["delay_z"][0]
    angle = np.linspace(0.2, 2.8, num_taps)
    radius = np.full(num_taps, 0.9)
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1)
    level_db = np.full((num_taps, 1), -60.0)  # tap level from its FIR magnitude
    level_db[[1, 3, 6]] = [[0.0], [-6.0], [-12.0]]
    log_fir = level_db * math.log(10) / 20 * np.ones(sizes["log_fir_magnitude"])
    fir = _t(log_fir, 1, *sizes["log_fir_magnitude"])
    out = delay(_impulse(16000), _t(z, 1, num_taps, 2), fir)
    y = out[0] if isinstance(out, tuple) else out
    ms = np.arange(y.shape[-1]) / SR * 1000
    fig, ax = plt.subplots()
    ax.plot(ms, y[0, 0].detach().numpy(), lw=0.6)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("amplitude")
    ax.set_title("MultitapDelay: 8 segments of 2000 samples, taps 1, 3, 6 at 0, -6, -12 dB")
    fig.tight_layout()


# --------------------------------------------------------------------------------------------
# Distortion, oscillators, modulation, stereo


def distortion_curves() -> None:
    """Transfer curves: output sample against input sample."""
    x = torch.linspace(-1, 1, 401, dtype=torch.float64).reshape(1, 1, -1)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=False)
    tanh = P.TanhDistortion(inverse_post_gain=False)
    for gain_db in (0, 6, 12, 24):
        log_pre_gain = _t([gain_db * math.log(10) / 20], 1, 1)
        y = tanh(x, log_pre_gain=log_pre_gain, log_post_gain=torch.zeros_like(log_pre_gain))
        axes[0].plot(x[0, 0], y[0, 0].detach(), label=f"pre-gain {gain_db} dB")
    axes[0].set_title("TanhDistortion")
    piecewise = P.PiecewiseTanhDistortion(pre_post_gain=False)
    for hardness in (0.5, 2.0, 8.0):
        y = piecewise(
            x, log_hardness=_t([math.log(hardness)] * 2, 1, 2), z_threshold=_t([0.0, 0.0], 1, 2)
        )
        axes[1].plot(x[0, 0], y[0, 0].detach(), label=f"hardness {hardness:g}")
    axes[1].set_title("PiecewiseTanhDistortion")
    cheb = P.ChebyshevDistortion(max_order=4, pre_gain=False)
    for weights in ([1, 0, 0, 0], [1, 0.5, 0, 0], [0.5, 0, 0.5, 0]):
        y = cheb(x, basis_weights=_t(weights, 1, -1))
        axes[2].plot(x[0, 0], y[0, 0].detach(), label=f"weights {weights}")
    axes[2].set_title("ChebyshevDistortion (order 4)")
    for ax in axes:
        ax.set_xlabel("input")
        ax.legend(fontsize=6)
    axes[0].set_ylabel("output")
    fig.tight_layout()


def oscillator_spectra() -> None:
    """Spectra of the band-limited oscillators at 440 Hz."""
    names = ["SineOscillator", "SawtoothOscillator", "SquareOscillator", "TriangleOscillator"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 4.4), sharex=True, sharey=True)
    n = 16384
    window = torch.hann_window(n, dtype=torch.float64)
    for ax, name in zip(axes.flat, names, strict=True):
        osc = getattr(P, name)(sample_rate=SR)
        y = osc(
            n,
            z_frequency=z_frequency_from_frequency(_t([440.0], 1, 1), SR),
            log_gain=_t([0.0], 1, 1),
        )
        freqs, db = _response_db(y[:, 0] * window)
        ax.plot(freqs, db[0] - db[0].max(), lw=0.6)
        ax.set_title(f"{name}, 440 Hz")
        ax.set_xlim(0, 12000)
        ax.set_ylim(-90, 5)
    fig.supxlabel("frequency (Hz)")
    fig.supylabel("level (dB re peak)")
    fig.tight_layout()


def adsr() -> None:
    """ADSREnvelope: attack 50 ms, decay 100 ms, sustain 0.5, release 200 ms, gate 400 ms."""
    env = P.ADSREnvelope(sample_rate=SR)
    params = {
        "log_attack": _t([math.log(0.05)], 1, 1),
        "log_decay": _t([math.log(0.1)], 1, 1),
        "z_sustain": _t([0.0], 1, 1),
        "log_release": _t([math.log(0.2)], 1, 1),
        "log_gate": _t([math.log(0.4)], 1, 1),
    }
    y = env(int(0.8 * SR), **params)
    fig, ax = plt.subplots()
    ax.plot(np.arange(y.shape[-1]) / SR * 1000, y[0, 0].detach().numpy())
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("envelope")
    ax.set_title("ADSREnvelope (log-seconds parameters, sustain sigmoid(0) = 0.5)")
    fig.tight_layout()


def modulation_spectrograms() -> None:
    """Chorus, Flanger and Phaser on white noise: the sweeping notches."""
    torch.manual_seed(0)
    n = int(2 * SR)
    noise = torch.randn(1, 1, n, dtype=torch.float64) * 0.3
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
    for ax, name in zip(axes, ["Chorus", "Flanger", "Phaser"], strict=True):
        effect = getattr(P, name)(sample_rate=SR)
        y = effect(noise, z_rate=_t([0.0], 1, 1), z_depth=_t([2.0], 1, 1), z_mix=_t([0.0], 1, 1))
        ax.specgram(y[0, 0].detach().numpy(), NFFT=1024, Fs=SR, noverlap=768, cmap="magma")
        ax.set_title(name)
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, 8000)
    axes[0].set_ylabel("frequency (Hz)")
    fig.tight_layout()


def panning_laws() -> None:
    """Panner: left and right gains against pan for each law."""
    pan = np.linspace(-0.99, 0.99, 101)
    fig, ax = plt.subplots()
    x = torch.ones(len(pan), 1, 1, dtype=torch.float64)
    for law in ("constant_power", "linear"):
        panner = P.Panner(law=law)
        params = [panner.settings_to_parameters({"pan": float(p)}) for p in pan]
        z_pan = torch.stack([torch.as_tensor(p["z_pan"]).reshape(1) for p in params])
        log_gain = torch.stack([torch.as_tensor(p["log_gain"]).reshape(1) for p in params])
        y = panner(x, z_pan=z_pan.double(), log_gain=log_gain.double())[:, :, 0].detach()
        ax.plot(pan, y[:, 0], label=f"{law}: left")
        ax.plot(pan, y[:, 1], "--", label=f"{law}: right")
    ax.set_xlabel("pan (-1 left, +1 right)")
    ax.set_ylabel("gain")
    ax.legend(fontsize=7)
    ax.set_title("Panner laws")
    fig.tight_layout()
