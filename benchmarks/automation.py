"""Automation on moves grafx did not make: static against automated consoles, same budget.

Two families of targets, each mixing the demo's synthesised stems (drums, bass, chords, lead; a
different seed per target) with settings drawn at random (``fit_quality.draw_settings``), the
static processing done by pedalboard and numpy, never by grafx:

- ``comp`` (the console cannot express it): pedalboard low shelf, peak, high shelf, compressor
  and gain per stem, constant-power pan, and a send into pedalboard's ``Reverb`` (Freeverb,
  room 0.6, a tail of 1-2 s; the console's reverb is 0.37 s of shaped noise) at -18 dB;
- ``eq`` (the console can express it, up to its reverb's noise): pedalboard's RBJ low shelf,
  peak and high shelf (JUCE's cookbook biquads, the same designs as grafx's
  ``ParametricEqualizer``) and gain per stem, constant-power pan (grafx's ``StereoGain`` law),
  and a send at -14 dB into a numpy reverb of the console reverb's own kind: stereo noise under
  an exponential decay (RT60 0.2-0.35 s, within the console reverb's 0.37 s IR) and a one-pole
  damping low-pass; a reverb the console matches sample for sample would have to use its noise,
  so none is used.

On *moving* targets numpy and pedalboard then apply the moves an engineer makes (``--moves``):

- ``realistic`` (default): a vocal-style ride on the lead (up 4-8 dB into a section over
  0.5-1 s, back down 2-4 s later), a drop-out (one of the other stems fades to -60 dB in 0.1 s
  and comes back 1.5-3 s later), one ride of 2-5 dB on each remaining stem, a pan sweep on one
  stem (from 0.7 on one side to the other over 1-2 s), a send swell on one stem (its reverb send
  from -30 to -8 dB over 1.5 s), and an EQ move on one stem, applied by pedalboard block by block
  (256 samples, the setting at each block's centre, the filters' state kept across blocks with
  ``reset=False``): a high shelf opening up by 6-10 dB over 1-2 s (even targets) or a peak of
  +8 dB sweeping two octaves up over 2 s (odd targets);
- ``rides``: the first version's moves: two fader moves of 3-9 dB on every stem, the pan sweep
  and the send swell, no EQ move.

*Static* targets keep every setting constant. The same console (EQ, compressor, gain/pan,
reverb per track) is fitted twice with the recipe and the same number of steps: static, and with
the ``--automate`` types as curves (default the faders, the reverb sends and the EQ), knots every
``--knots-every`` seconds and the total-variation penalty
(:class:`grafx.automation.smoothness.CurveSmoothness`, weight ``--smoothness``);
``--static-warmup F`` fits the first ``F`` of the steps static and frees the curves for the rest
(the same number of steps in all); ``--curve-lr`` multiplies the curves' learning rates (one
factor, or one per type, ``gain_pan=3,reverb=3,eq=1``; the recipe's 3x on the fader gains
stays on top; 1, the default, is the recipe's rates; 3 helped on some targets and not on
others, see benchmarks/README.md, "Automation: EQ moves, a target family the console can
express, recipe levers").
The static fits draw their crops with seed 0, the automated fits' curve phase with seed 1.
``--floor N`` also fits the static console to the first ``N`` moving targets' unmoved twins
(the same stems, settings and draws, every move held at its start): about the best an
automated fit can reach.

Per target it prints the STFT distance (:func:`grafx.metrics.mix_metrics`) of the static fit,
the automated fit, the least-squares gain mix (and the floor), the ratio automated / static, the
CPU seconds of each fit, and on moving targets the rms error in dB of each recovered fader
curve (the constant-power level of the fitted stereo gain, so a pan does not read as a level)
against the true fader where the stem is audible (its level after the fader within 40 dB of its
loudest, over 0.5 s), after removing the constant offset between them (the level a static
processor of the strip takes). Then the forward render time of the automated console against the
static one (alternating, median of 7), once with the faders, sends and compressor thresholds
automated and once with every parameter that can move (the EQ too); ``--no-overhead`` skips it.
Goals (issue 31): moving targets 0.5x, faders 1.5 dB rms, static 1.05x, render 1.3x.

    PYTHONPATH=src python benchmarks/automation.py [--family comp,eq] [--targets 3] [--static 1]
        [--seconds 8] [--sample-rate 22050] [--steps 400] [--moves realistic|rides]
        [--automate gain_pan,reverb,eq] [--knots-every 0.25] [--smoothness 1e-3]
        [--static-warmup 0] [--curve-lr 1] [--interpolation linear|cubic] [--floor 0]
        [--threads 1] [--only-automated] [--out NAME]

Needs pedalboard (the ``bench`` extra). Writes ``benchmarks/results/NAME.json`` (default
``automation``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_quality import draw_settings, synth_stems  # noqa: E402

from grafx.automation import Timeline, automate_parameters, curve_keys  # noqa: E402
from grafx.automation.smoothness import CurveSmoothness  # noqa: E402
from grafx.baseline import least_squares_gain_mix  # noqa: E402
from grafx.fit import GraphRenderer, fit_parameters  # noqa: E402
from grafx.fit.recipe import recipe_config, recipe_loss, recipe_penalties  # noqa: E402
from grafx.metrics import mix_metrics  # noqa: E402
from grafx.presets import build_mixing_console, console_parameters, console_processors  # noqa: E402

CHAIN = ("eq", "compressor", "gain_pan", "reverb")
FAMILIES = {
    "comp": "pedalboard EQ + compressor, Freeverb sends (console cannot express)",
    "eq": "pedalboard RBJ EQ, gain/pan, noise-reverb sends (console can express)",
}
RESULTS = Path(__file__).resolve().parent / "results"
LN10 = math.log(10)
BLOCK = 256  # samples per block of a pedalboard EQ move
DROPOUT_DB = -60.0


def ride(rng: np.random.Generator, seconds: float, moves: int, low: float, high: float):
    """Knot times and dB values of a fader ride: ``moves`` moves of ``low``-``high`` dB, up or
    down, each over 0.3-1 s, at random times."""
    times, values, level = [0.0], [0.0], 0.0
    for start in sorted(rng.uniform(0.5, seconds - 1.5, size=moves)):
        if start <= times[-1] + 0.05:
            continue
        level += rng.choice([-1, 1]) * rng.uniform(low, high)
        end = min(start + rng.uniform(0.3, 1.0), seconds - 0.1)
        times += [float(start), float(end)]
        values += [values[-1], float(level)]
    return times + [seconds], values + [values[-1]]


def section_ride(rng: np.random.Generator, seconds: float, low: float, high: float, fade: tuple):
    """A move to ``low``-``high`` dB (negative: down) and back: ``(times, dB)``; each move lasts
    ``fade`` seconds (a range), the section 1.5-4 s."""
    level = rng.uniform(low, high)
    hold = rng.uniform(1.5, min(4.0, seconds - 3.0))
    start = rng.uniform(0.5, seconds - hold - 2 * fade[1] - 0.3)
    up = rng.uniform(*fade)
    down = rng.uniform(*fade)
    times = [0.0, start, start + up, start + up + hold, start + up + hold + down, seconds]
    return times, [0.0, 0.0, level, level, 0.0, 0.0]


def noise_reverb(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A stereo IR ``(2, N)`` of the console reverb's kind: noise under an exponential decay
    (RT60 0.2-0.35 s) through a one-pole damping low-pass, unit energy per channel."""
    from scipy.signal import lfilter

    rt60 = rng.uniform(0.2, 0.35)
    n = int(0.37 * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.uniform(-1, 1, size=(2, n)) * np.exp(-6.9 * t / rt60)
    pole = rng.uniform(0.2, 0.6)
    ir = lfilter([1 - pole], [1, -pole], ir, axis=-1)
    return ir / np.sqrt((ir**2).sum(-1, keepdims=True))


def eq_board(s: dict, family: str):
    """The stem's pedalboard chain (EQ, the compressor in family ``comp``, gain)."""
    import pedalboard as pb

    plugins = [
        pb.LowShelfFilter(s["low_shelf"]["hz"], s["low_shelf"]["db"]),
        pb.PeakFilter(s["peak"]["hz"], s["peak"]["db"], s["peak"]["q"]),
        pb.HighShelfFilter(s["high_shelf"]["hz"], s["high_shelf"]["db"]),
    ]
    if family == "comp":
        plugins.append(pb.Compressor(**s["compressor"]))
    plugins.append(pb.Gain(s["gain_db"]))
    return pb.Pedalboard(plugins)


def eq_move(rng: np.random.Generator, index: int, seconds: float, s: dict):
    """An EQ move: ``(what, times, values)``; a high shelf opening up by 6-10 dB over 1-2 s
    (even ``index``) or a +8 dB peak sweeping two octaves up over 2 s (odd)."""
    start = rng.uniform(0.5, seconds - 2.5)
    if index % 2 == 0:
        low = rng.uniform(-8, -4)
        return "shelf_db", [start, start + rng.uniform(1, 2)], [low, low + rng.uniform(6, 10)]
    hz = rng.uniform(300, 1000)
    return "peak_hz", [start, start + 2.0], [hz, 4 * hz]


def run_board(stem: np.ndarray, s: dict, family: str, sample_rate: int, move=None) -> np.ndarray:
    """One stem ``(2, L)`` through its chain; with ``move`` block by block (``BLOCK`` samples,
    the moving setting at each block's centre, interpolated in dB or log frequency), the state
    kept across blocks (``reset=False``)."""
    x = stem.astype(np.float32)
    if move is None:
        return eq_board(s, family)(x, sample_rate).astype(np.float64)
    what, times, values = move
    board = eq_board(s, family)
    moving = board[2] if what == "shelf_db" else board[1]
    out = []
    for begin in range(0, x.shape[-1], BLOCK):
        centre = (begin + BLOCK / 2) / sample_rate
        if what == "shelf_db":
            moving.gain_db = float(np.interp(centre, times, values))
        else:
            moving.cutoff_frequency_hz = float(np.exp(np.interp(centre, times, np.log(values))))
        out.append(board.process(x[:, begin : begin + BLOCK], sample_rate, reset=begin == 0))
    return np.concatenate(out, -1).astype(np.float64)


def rbj(kind: str, hz: float, db: float, q: float, sample_rate: int):
    """The RBJ cookbook biquad ``(b, a)`` of a ``peak``, ``low`` or ``high`` shelf."""
    A, w = 10 ** (db / 40), 2 * math.pi * hz / sample_rate
    c, alpha = math.cos(w), math.sin(w) / (2 * q)
    if kind == "peak":
        return [1 + alpha * A, -2 * c, 1 - alpha * A], [1 + alpha / A, -2 * c, 1 - alpha / A]
    s, sign = 2 * math.sqrt(A) * alpha, 1 if kind == "low" else -1
    b = [
        A * ((A + 1) - sign * (A - 1) * c + s),
        2 * sign * A * ((A - 1) - sign * (A + 1) * c),
        A * ((A + 1) - sign * (A - 1) * c - s),
    ]
    a = [
        (A + 1) + sign * (A - 1) * c + s,
        -2 * sign * ((A - 1) + sign * (A + 1) * c),
        (A + 1) + sign * (A - 1) * c - s,
    ]
    return b, a


def check_eq_moves(sample_rate: int) -> None:
    """Check the EQ the targets use: pedalboard's filters are the RBJ cookbook biquads (scipy's
    ``lfilter`` of the cookbook coefficients, float32 rounding), and an EQ move held constant
    renders block by block exactly as in one go (the state kept across blocks)."""
    import pedalboard as pb
    from scipy.signal import lfilter

    x = np.random.default_rng(1).standard_normal((2, 8192)).astype(np.float32)
    for kind, plugin in (
        ("peak", pb.PeakFilter(1500.0, 7.0, 1.3)),
        ("low", pb.LowShelfFilter(150.0, -5.0, 0.707)),
        ("high", pb.HighShelfFilter(6000.0, 4.0, 0.707)),
    ):
        ref = lfilter(
            *rbj(kind, plugin.cutoff_frequency_hz, plugin.gain_db, plugin.q, sample_rate),
            x.astype(np.float64),
            axis=-1,
        )
        err = np.abs(plugin(x, sample_rate) - ref).max() / np.abs(ref).max()
        assert err < 1e-4, f"pedalboard {kind} is not the RBJ biquad: relative error {err:.2g}"
    s = draw_settings(np.random.default_rng(2))
    for family in FAMILIES:
        for what, value in (("shelf_db", s["high_shelf"]["db"]), ("peak_hz", s["peak"]["hz"])):
            held = run_board(x, s, family, sample_rate, (what, [0.0, 1.0], [value, value]))
            whole = run_board(x, s, family, sample_rate)
            assert np.abs(held - whole).max() < 1e-6, f"{family}: blocks differ from one go"


def make_target(
    family: str,
    index: int,
    moving: bool,
    sample_rate: int,
    seconds: float,
    moves: str = "realistic",
    hold: bool = False,
):
    """``(stems (K, 2, L), names, target (2, L), rides {stem: (times, dB)})``.

    ``hold``: the same draws as the moving target, every move held at its start (the floor)."""
    from scipy.signal import fftconvolve

    stems, names = synth_stems(index, sample_rate, seconds)
    rng = np.random.default_rng(5000 + index + (0 if family == "comp" else 7919))
    t = np.arange(stems.shape[-1]) / sample_rate
    k_count = len(names)
    pan_stem, send_stem, eq_stem, drop_stem = rng.choice(k_count, 4, replace=False)
    lead = names.index("lead") if "lead" in names else 0
    if drop_stem == lead:
        drop_stem = eq_stem
    mix = np.zeros((2, stems.shape[-1]))
    rides = {}
    for k, stem in enumerate(stems.numpy()):
        s = draw_settings(rng)
        flat = ([0.0, seconds], [0.0, 0.0])
        if moves == "rides":
            fader = ride(rng, seconds, 2, 3, 9)
        elif k == lead:
            fader = section_ride(rng, seconds, 4, 8, (0.5, 1.0))
        elif k == drop_stem:
            fader = section_ride(rng, seconds, DROPOUT_DB, DROPOUT_DB, (0.1, 0.1))
        else:
            fader = ride(rng, seconds, 1, 2, 5)
        move = eq_move(rng, index, seconds, s) if moves == "realistic" and k == eq_stem else None
        pan_start, pan_len, side = (
            rng.uniform(0.5, seconds - 2.5),
            rng.uniform(1, 2),
            rng.choice([-1, 1]),
        )
        send_start = rng.uniform(0.5, seconds - 2.5)
        ir = noise_reverb(rng, sample_rate) if family == "eq" else None
        if not moving:
            fader, move = flat, None
        rides[names[k]] = fader
        if hold:  # the moving target's draws, nothing moves
            fader = flat
            if move is not None:
                move = (move[0], move[1], [move[2][0]] * 2)
        dry = run_board(stem, s, family, sample_rate, move)
        gain = 10 ** (np.interp(t, *fader) / 20)
        pan = np.full_like(t, s["pan"])
        if moving and k == pan_stem:
            ends = [-0.7 * side, 0.7 * side] if not hold else [-0.7 * side] * 2
            pan = np.interp(t, [pan_start, pan_start + pan_len], ends)
        angle = (pan + 1) * math.pi / 4
        strip = dry * gain * np.sqrt(2) * np.stack([np.cos(angle), np.sin(angle)])
        if family == "comp":
            import pedalboard as pb

            reverb = pb.Reverb(room_size=0.6, damping=0.4, wet_level=1.0, dry_level=0.0)
            wet = reverb(strip.astype(np.float32), sample_rate).astype(np.float64)
            send_db = np.full_like(t, -18.0)
        else:
            wet = np.stack([fftconvolve(strip[c], ir[c])[: len(t)] for c in range(2)])
            send_db = np.full_like(t, -14.0)
        if moving and k == send_stem:
            ends = [-30.0, -8.0] if not hold else [-30.0, -30.0]
            send_db = np.interp(t, [send_start, send_start + 1.5], ends)
        mix += strip + wet * 10 ** (send_db / 20)
    return stems, names, torch.from_numpy(mix.astype(np.float32)), rides


def fit(stems, target, sample_rate, steps, automate, args):
    """Fit the console (``automate``: the types given curves); returns
    ``(mix, result, cpu seconds, timeline)``."""
    G, sequence = build_mixing_console(len(stems), chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=sample_rate)
    params = console_parameters(G, processors, sample_rate)
    penalties = recipe_penalties(node_types=CHAIN)
    loss = recipe_loss(sample_rate)
    timeline = None

    def run(params, config, penalties, timeline=None):
        return fit_parameters(
            G,
            processors,
            params,
            stems,
            target,
            loss,
            config,
            type_sequence=sequence,
            penalties=penalties,
            timeline=timeline,
        )

    began = time.process_time()
    if automate:
        seconds = stems.shape[-1] / sample_rate
        timeline = Timeline.uniform(seconds, args.knots_every, sample_rate, args.interpolation)
        warm = min(int(round(args.static_warmup * steps)), steps - 1)
        if warm:  # the static console first, at the recipe's first learning rate
            config = recipe_config(sample_rate, steps=warm, progress=False, final_lr=1.0)
            params = run(params, config, penalties).parameters
            steps -= warm
        params = automate_parameters(params, processors, automate, timeline)
        names = curve_keys(params, processors)
        penalties = {**penalties, "smoothness": CurveSmoothness(args.smoothness, names)}
    config = recipe_config(sample_rate, steps=steps, progress=False, seed=1 if automate else 0)
    factors = curve_lr_factors(args.curve_lr, automate)
    if automate and any(f != 1 for f in factors.values()):
        scales = dict(config.lr_scale)
        for name in curve_keys(params, processors):
            scales[name] = scales.get(name, 1.0) * factors.get(name.split("/")[0], 1.0)
        config.lr_scale = scales
    result = run(params, config, penalties, timeline)
    cpu = time.process_time() - began
    renderer = GraphRenderer(G, processors, sequence)
    with torch.no_grad():
        mix = renderer(stems, result.parameters, timeline)[0]
    return mix, result, cpu, timeline


def curve_lr_factors(text: str, types) -> dict[str, float]:
    """``--curve-lr``: one factor for every automated type, or ``type=factor`` pairs."""
    if "=" not in str(text):
        return {t: float(text) for t in types}
    pairs = (item.split("=") for item in str(text).split(",") if item)
    return {t: float(f) for t, f in pairs}


def fader_errors(result, timeline, stems, rides, names, sample_rate, details=None):
    """rms dB error of each fitted fader curve against its true ride where the stem is audible,
    offset removed. The fitted fader is the constant-power level of the stereo gain
    (``10 log10((g_L^2 + g_R^2) / 2)``, 0 dB at any pan of the console's law); a stem is
    audible at a knot where its level after the true fader (0.5 s mean power) is within 40 dB
    of its loudest."""
    gains = result.parameters["gain_pan"]["log_gain"]  # (K, 2, knots), node order = track order
    knots = np.array(timeline.knot_times)
    window = int(0.5 * sample_rate)
    errors = []
    for k, name in enumerate(names):
        power = gains[k].double().mul(2).exp().mean(0).numpy()
        fitted_db = 10 * np.log10(power)
        true_db = np.interp(knots, *rides[name])
        energy = np.convolve(stems[k].square().mean(0).numpy(), np.ones(window) / window, "same")
        level = 10 * np.log10(energy + 1e-20)
        level += np.interp(np.arange(len(level)) / sample_rate, *rides[name])
        at_knots = np.interp(knots * sample_rate, np.arange(len(level)), level)
        audible = at_knots > level.max() - 40
        diff = (fitted_db - true_db)[audible]
        errors.append(float(np.sqrt(np.mean((diff - diff.mean()) ** 2))))
        if details is not None:  # also without the knots inside a drop-out's fades
            steady = audible & (true_db > true_db.max() - 20)
            held = (fitted_db - true_db)[steady]
            details[name] = {
                "fitted_db": np.round(fitted_db, 2).tolist(),
                "true_db": np.round(true_db, 2).tolist(),
                "audible": audible.tolist(),
                "rms_db_without_fades": float(np.sqrt(np.mean((held - held.mean()) ** 2))),
            }
    return errors


def render_overhead(stems, sample_rate, args, types) -> float:
    """Median forward time of the console with ``types`` automated over the static one
    (alternating, after a warm-up pair)."""
    G, sequence = build_mixing_console(len(stems), chain=CHAIN)
    processors = console_processors(CHAIN)
    renderer = GraphRenderer(G, processors, sequence)
    static = console_parameters(G, processors, sample_rate)
    timeline = Timeline.uniform(stems.shape[-1] / sample_rate, args.knots_every, sample_rate)
    moving = automate_parameters(static, processors, list(types), timeline)
    times = {"static": [], "automated": []}
    with torch.no_grad():
        for repeat in range(8):
            for name, params, tl in (("static", static, None), ("automated", moving, timeline)):
                began = time.perf_counter()
                renderer(stems, params, tl)
                if repeat:  # the first pair warms up
                    times[name].append(time.perf_counter() - began)
    return float(np.median(times["automated"]) / np.median(times["static"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="comp,eq", help="target families: comp, eq")
    parser.add_argument("--targets", type=int, default=3, help="moving targets per family")
    parser.add_argument("--static", type=int, default=1, help="static targets per family")
    parser.add_argument("--first", type=int, default=0, help="index of the first moving target")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--moves", choices=("realistic", "rides"), default="realistic")
    parser.add_argument("--automate", default="gain_pan,reverb,eq")
    parser.add_argument("--knots-every", type=float, default=0.25)
    parser.add_argument("--smoothness", type=float, default=1e-3)
    parser.add_argument("--static-warmup", type=float, default=0.0)
    parser.add_argument("--curve-lr", default="1", help="3, or gain_pan=3,reverb=3,eq=1")
    parser.add_argument("--interpolation", choices=("linear", "cubic"), default="linear")
    parser.add_argument(
        "--floor", type=int, default=0, help="fit the first N moving targets' unmoved twins"
    )
    parser.add_argument("--only-automated", action="store_true", help="skip the static fits")
    parser.add_argument("--no-overhead", action="store_true", help="skip the render timing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="automation")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    check_eq_moves(args.sample_rate)
    automate = [t for t in args.automate.split(",") if t]
    families = [f for f in args.family.split(",") if f]
    for family in families:
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; use {','.join(FAMILIES)}")
    rows = []
    print("family target     static  automated  gain-mix  floor  ratio  cpu-s(st/au)  fader-dB-rms")
    for family in families:
        kinds = [("moving", args.first + i) for i in range(args.targets)]
        kinds += [("static", 100 + i) for i in range(args.static)]
        for kind, index in kinds:
            moving = kind == "moving"
            target_args = (family, index, moving, args.sample_rate, args.seconds, args.moves)
            stems, names, target, rides = make_target(*target_args)
            gain_mix = least_squares_gain_mix(stems, target).mix
            base = mix_metrics(gain_mix, target, args.sample_rate)["stft_distance"]
            st, st_cpu = float("nan"), float("nan")
            if not args.only_automated:
                st_mix, _, st_cpu, _ = fit(stems, target, args.sample_rate, args.steps, [], args)
                st = mix_metrics(st_mix, target, args.sample_rate)["stft_distance"]
            au_mix, au, au_cpu, timeline = fit(
                stems, target, args.sample_rate, args.steps, automate, args
            )
            auto = mix_metrics(au_mix, target, args.sample_rate)["stft_distance"]
            floor = float("nan")
            if moving and index - args.first < args.floor:
                held = make_target(*target_args, hold=True)[2]
                fl_mix = fit(stems, held, args.sample_rate, args.steps, [], args)[0]
                floor = mix_metrics(fl_mix, held, args.sample_rate)["stft_distance"]
            curves: dict = {}
            faders = fader_errors(au, timeline, stems, rides, names, args.sample_rate, curves)
            row = {
                "family": family,
                "target": f"{kind}{index}",
                "static": st,
                "automated": auto,
                "gain_mix": base,
                "floor": floor,
                "ratio": auto / st,
                "cpu_static": st_cpu,
                "cpu_automated": au_cpu,
                "fader_rms_db": dict(zip(names, faders, strict=True)),
                "knot_times": list(timeline.knot_times),
                "fader_curves": curves,
            }
            rows.append(row)
            print(
                f"{family:<6} {row['target']:<10} {st:6.3f}  {auto:9.3f}  {base:8.3f}  "
                f"{floor:5.3f}  {auto / st:5.2f}  {st_cpu:5.0f}/{au_cpu:<5.0f}   "
                + " ".join(f"{e:.1f}" for e in faders),
                flush=True,
            )
    overhead = {}
    if not args.no_overhead:
        stems = make_target("comp", 0, True, args.sample_rate, args.seconds)[0]
        overhead = {
            "faders, sends, thresholds": render_overhead(
                stems, args.sample_rate, args, ("compressor", "gain_pan", "reverb")
            ),
            "everything (EQ too)": render_overhead(stems, args.sample_rate, args, CHAIN),
        }
    for what, ratio in overhead.items():
        print(f"forward render, {what} automated / static: {ratio:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    report = {"args": vars(args), "rows": rows, "render_overhead": overhead}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
