"""Accuracy figures of the DSP audit fixes (issue 13), each against an independent reference.

Not a timing script: every figure is an error against scipy.signal (``freqz``, ``sosfreqz``,
``sosfilt``/``lfilter``) or an analytic value, printed "before -> after" where the old behaviour
can still be reproduced with the current code (a fixed-length ``fsm`` FIR; the uncorrected
graphic EQ).

    PYTHONPATH=src .venv/bin/python benchmarks/dsp_accuracy.py
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import torch

from grafx.processors.core.geq import GraphicEqualizerBiquad
from grafx.processors.core.iir import IIRFilter, fsm_fir, fsm_fir_len_for, iir_fsm, pole_radius
from grafx.processors.functional.filter import (
    log_gain_from_amplitude,
    q_inv_from_inv_q,
    rbj_biquad,
    w0_from_omega,
)


def rbj_params(f0: float, q: float, gain_db: float | None, sr: float) -> dict:
    def t(v: float) -> torch.Tensor:
        return torch.tensor([[v]], dtype=torch.float64)

    params = {"w0": w0_from_omega(t(2 * math.pi * f0 / sr)), "q_inv": q_inv_from_inv_q(t(1 / q))}
    if gain_db is not None:
        params["log_gain"] = log_gain_from_amplitude(t(10 ** (gain_db / 40)))
    return params


def fir_gain_db(fir: np.ndarray, f: float, sr: float) -> float:
    _, h = scipy.signal.freqz(fir, 1, worN=[f], fs=sr)
    return 20 * math.log10(abs(h[0]))


def fsm_figures() -> None:
    print("## fsm backend: fixed 4000 taps -> length chosen from the narrowest band")
    sr = 44100
    # 1. PeakingFilter 40 Hz, Q 8, +12 dB: gain at its centre (analytic: +12 dB).
    Bs, As = rbj_biquad("peaking", **rbj_params(40.0, 8.0, 12.0, sr))  # (1, K=1, 3)
    n = fsm_fir_len_for(float(pole_radius(As).max()), 4000)
    before = fir_gain_db(fsm_fir(Bs, As, 4000)[0].numpy(), 40.0, sr)
    after = fir_gain_db(fsm_fir(Bs, As, n)[0].numpy(), 40.0, sr)
    print(
        f"PeakingFilter 40 Hz Q 8 +12 dB, gain at 40 Hz: {before:+.3f} -> {after:+.4f} dB (N={n})"
    )
    # 2. Third-octave graphic EQ at 48 kHz, random +-12 dB: error at the 19.7 Hz band centre,
    # against scipy.signal.sosfreqz of the same sections.
    geq = GraphicEqualizerBiquad(scale="third_octave", sr=48000)
    worst_before, worst_after = 0.0, 0.0
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        gains_db = torch.rand(1, geq.num_bands, generator=gen, dtype=torch.float64) * 24 - 12
        Bs, As = geq(gains_db * math.log(10) / 20)  # (1, K, 3), interaction-corrected
        sos = torch.cat([Bs[0], As[0]], -1).numpy()
        f = float(geq.center_frequencies[0])
        _, exact = scipy.signal.sosfreqz(sos, worN=[f], fs=48000)
        exact_db = 20 * math.log10(abs(exact[0]))
        n = fsm_fir_len_for(float(pole_radius(As).max()), 4000)
        worst_before = max(
            worst_before, abs(fir_gain_db(fsm_fir(Bs, As, 4000)[0].numpy(), f, 48000) - exact_db)
        )
        worst_after = max(
            worst_after, abs(fir_gain_db(fsm_fir(Bs, As, n)[0].numpy(), f, 48000) - exact_db)
        )
    print(
        f"GraphicEqualizer third octave 48 kHz, random +-12 dB (20 draws), worst error at "
        f"19.7 Hz: {worst_before:.2f} -> {worst_after:.1e} dB"
    )
    # 3. 40 Hz, Q 8 low pass on noise: relative error against scipy.signal.sosfilt.
    params = rbj_params(40.0, 8.0, None, sr)
    Bs, As = (c[:, None] for c in rbj_biquad("lowpass", **params))  # (1, C_f=1, K=1, 3)
    x = torch.randn(1, 1, 2**16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sos = torch.cat([Bs[0, 0], As[0, 0]], -1).numpy()
    ref = scipy.signal.sosfilt(sos, x[0, 0].numpy())
    old = iir_fsm(x, Bs, As, 4000)[0, 0].numpy()
    new = IIRFilter(backend="fsm")(x, Bs, As)[0, 0].numpy()

    def rel(y: np.ndarray) -> float:
        return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))

    n = fsm_fir_len_for(float(pole_radius(As).max()), 4000)
    print(
        f"LowPassFilter 40 Hz Q 8 on noise, relative error: {rel(old):.3f} -> {rel(new):.1e} (N={n})"
    )


def centre_gains_db(geq: GraphicEqualizerBiquad, log_gains: torch.Tensor) -> np.ndarray:
    """The cascade's gain in dB at each band centre, by scipy.signal.sosfreqz."""
    Bs, As = geq(log_gains)
    sos = torch.cat([Bs, As], -1).numpy()
    centres = geq.center_frequencies.numpy()
    return np.array(
        [20 * np.log10(np.abs(scipy.signal.sosfreqz(r, worN=centres, fs=geq.sr)[1])) for r in sos]
    )


def geq_figures() -> None:
    print("## GraphicEqualizer band interaction: uncompensated -> interaction correction")
    for scale, sr in (("third_octave", 48000), ("third_octave", 44100), ("bark", 44100)):
        plain = GraphicEqualizerBiquad(scale, sr, gain_correction=False)
        fixed = GraphicEqualizerBiquad(scale, sr)
        gen = torch.Generator().manual_seed(0)
        gains_db = torch.rand(200, fixed.num_bands, generator=gen, dtype=torch.float64) * 24 - 12
        gains_db[0] = 6.0
        log_gains = gains_db * math.log(10) / 20
        before = np.abs(centre_gains_db(plain, log_gains) - gains_db.numpy()).max()
        after = np.abs(centre_gains_db(fixed, log_gains) - gains_db.numpy()).max()
        six = centre_gains_db(plain, log_gains[:1])[0].max()
        print(
            f"{scale} at {sr} Hz, 200 random +-12 dB settings, worst centre error: "
            f"{before:.2f} -> {after:.4f} dB (all bands +6 dB, uncompensated: +{six:.2f} dB)"
        )


def float32_figure() -> None:
    print("## float32 designs: designed in float32 -> designed and kept in float64")
    sr = 44100
    params = {k: v.float() for k, v in rbj_params(40.0, 8.0, None, sr).items()}
    omega = math.pi * torch.sigmoid(params["w0"].double()).item()
    inv_q = math.exp(params["q_inv"].double().item())
    cos, alpha = math.cos(omega), math.sin(omega) * inv_q / 2
    b = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
    a = [1 + alpha, -2 * cos, 1 - alpha]
    x = torch.randn(1, 1, 8192, generator=torch.Generator().manual_seed(0))
    ref = scipy.signal.lfilter(b, a, x.double().numpy()[0, 0])
    # the old path: the cookbook evaluated in float32 (as rbj_biquad did), float32 coefficients
    w32 = math.pi * torch.sigmoid(params["w0"])
    cos32, alpha32 = torch.cos(w32), torch.sin(w32) * torch.exp(params["q_inv"]) / 2
    b32 = torch.cat([(1 - cos32) / 2, 1 - cos32, (1 - cos32) / 2], -1)[0].double().numpy()
    a32 = torch.cat([1 + alpha32, -2 * cos32, 1 - alpha32], -1)[0].double().numpy()
    old = scipy.signal.lfilter(b32, a32, x.double().numpy()[0, 0])
    from grafx.processors.filter import LowPassFilter

    new = LowPassFilter(backend="lfilter")(x, **params)[0, 0].double().numpy()

    def rel(y: np.ndarray) -> float:
        return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))

    print(
        f"LowPassFilter 40 Hz Q 8, float32 input, relative error vs scipy: {rel(old):.1e}"
        f" -> {rel(new):.1e}"
    )


def dynamics_figures() -> None:
    print("## dynamics: fixed energy floor 1e-5 -> floor 120 dB below the threshold")
    from grafx.processors.dynamics import Compressor, NoiseGate
    from grafx.processors.functional.dynamics import (
        log_ratio_from_ratio,
        log_threshold_from_threshold,
    )

    def out_db(proc, levels_db, threshold_db, ratio):
        amp = 10 ** (torch.tensor(levels_db, dtype=torch.float64) / 20)
        x = amp[:, None, None].expand(len(levels_db), 1, 64)
        t = torch.tensor(threshold_db * math.log(10) / 10, dtype=torch.float64)
        n = len(levels_db)
        params = {
            "log_threshold": log_threshold_from_threshold(t).expand(n, 1),
            "log_ratio": log_ratio_from_ratio(torch.tensor(ratio, dtype=torch.float64)).expand(
                n, 1
            ),
        }
        return (20 * torch.log10(proc(x, **params)[:, 0, -1])).numpy()

    def old_floor_db(kind, levels_db, threshold_db, ratio):
        # the same hard-knee model with G = ln(e + 1e-5), as before the fix
        g = np.log(10 ** (np.array(levels_db) / 10) + 1e-5)
        t = threshold_db * math.log(10) / 10
        if kind == "compressor":
            delta = (1 / ratio - 1) * np.maximum(g - t, 0)
        else:
            delta = (1 - ratio) * np.maximum(t - g, 0)
        return np.array(levels_db) + delta / 2 * 20 / math.log(10)

    levels = [-50.0, -49.0]
    new = out_db(Compressor(None, None, knee="hard"), levels, -50.0, 4.0)
    old = old_floor_db("compressor", levels, -50.0, 4.0)
    print(
        f"Compressor, threshold -50 dB, R 4, slope from -50 to -49 dB: "
        f"{np.diff(old)[0]:.3f} -> {np.diff(new)[0]:.4f} (1/R = 0.25)"
    )
    new = out_db(NoiseGate(None, None, knee="hard"), [-70.0], -60.0, 2.0)[0]
    old = old_floor_db("gate", [-70.0], -60.0, 2.0)[0]
    print(
        f"NoiseGate, threshold -60 dB, R 2, input -70 dB: output {old:.1f} -> {new:.2f} dB "
        f"(analytic -80 dB)"
    )


def smaller_figures() -> None:
    print("## smaller fixes")
    from grafx.processors.nonlinear import TanhDistortion
    from grafx.processors.reverb import FilteredNoiseShapingReverb

    n = torch.arange(44100, dtype=torch.float64)
    x = torch.sin(2 * math.pi * 441 * n / 44100)[None, None]
    bias = torch.full((1, 1), 0.5, dtype=torch.float64)
    old = (torch.tanh(x + 0.5) - math.tanh(0.5)).mean().item()
    y = TanhDistortion(use_bias=True)(x, log_pre_gain=torch.zeros(1, 1, dtype=x.dtype), bias=bias)
    print(
        f"TanhDistortion bias 0.5, unit 441 Hz sine, output mean: {old:.4f} -> {y.mean().item():.1e}"
    )
    for sr in (44100, 16000):
        proc = FilteredNoiseShapingReverb(
            ir_len=sr // 4, num_bands=1, processor_channel="mono", sr=sr
        )
        zero = torch.zeros(1, 1, 1, dtype=torch.float64)
        ir = proc.impulse_response(zero, zero)[0, 0].numpy()
        block = sr // 200
        energy = np.log((ir[: len(ir) // block * block].reshape(-1, block) ** 2).mean(-1))
        t = (np.arange(len(energy)) + 0.5) * block
        slope = np.polyfit(t[1:-1], energy[1:-1], 1)[0]
        print(
            f"FilteredNoiseShapingReverb sr={sr}, log_decay 0: measured T60 "
            f"{math.log(1e-6) / slope / sr:.4f} s (analytic 0.0976 s; with the old silent "
            f"30 kHz default at {sr} Hz: {0.0976 * 30000 / sr:.4f} s)"
        )


def main() -> None:
    torch.set_num_threads(2)
    fsm_figures()
    geq_figures()
    float32_figure()
    dynamics_figures()
    smaller_figures()


if __name__ == "__main__":
    main()
