"""Pruning's acceptance by mix descriptors: a removal within the loss tolerance that changes the
tonal balance or the loudness is refused."""

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError
from grafx.fit import render_mix
from grafx.metrics import band_levels, third_octave_centres
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import PruneConfig, prune_graph
from grafx.prune.search import DescriptorGuard

CHAIN = ["eq", "gain_pan"]
RATE = 16000


def _case():
    """One stem through an EQ whose low shelf (120 Hz) cuts 6 dB, then a neutral fader: the
    fitted graph is the target's graph itself."""
    G, sequence = build_mixing_console(1, chain=CHAIN)
    processors = console_processors(CHAIN)
    fitted = console_parameters(
        G, processors, RATE, {"track0/eq": {"eq_gains_db": [-6.0, 0.0, 0.0, 0.0]}}
    )
    x = torch.randn(1, 2, RATE, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    target = render_mix(G, processors, fitted, x, sequence)
    return G, sequence, processors, fitted, x, target


def _prune(**options):
    """Brute force, one round, any loss; the STFT and band-rms rules off unless ``options`` set
    them."""
    options = {"stft_tolerance": None, "band_rms_tolerance": None, **options}
    G, sequence, processors, fitted, x, target = _case()
    result = prune_graph(
        G, processors, fitted, x, target, type_sequence=sequence, method="brute", rounds=1,
        finetune_steps=0, tolerance=100.0, tolerance_mode="absolute", sample_rate=RATE,
        **options,
    )  # fmt: skip
    names = {G.nodes[n]["name"] for n in result.removed}
    return names, result, (G, processors, fitted, x, target)


def test_removing_the_eq_boosts_the_low_end_by_6db():
    """The premise, measured: with the EQ removed the bands below the shelf are about 6 dB
    louder relative to 1 kHz (the fader's pan law moves both alike)."""
    names, result, (G, processors, fitted, x, target) = _prune(
        band_tolerance_db=None, loudness_tolerance_lu=None
    )
    assert "track0/eq" in names
    pruned = render_mix(result.graph, processors, result.parameters, x)
    centres = third_octave_centres(RATE)
    change = band_levels(pruned.double().numpy().mean(0), RATE, centres) - band_levels(
        target.double().numpy().mean(0), RATE, centres
    )
    low, mid = int(np.argmin(abs(centres - 50))), int(np.argmin(abs(centres - 1000)))
    assert change[low] - change[mid] == pytest.approx(6.0, abs=0.5)


def test_a_removal_that_boosts_the_low_end_by_6db_is_refused():
    """The loss tolerance (absolute 100) lets everything through; the band rule (1 dB) refuses
    the EQ's removal and keeps the neutral fader's."""
    names, result, _ = _prune(loudness_tolerance_lu=None)
    assert names == {"track0/gain_pan"}
    assert result.refused_by_descriptors == 1
    assert result.rounds[0]["descriptor_refusals"] == 1


def test_without_the_band_rule_it_is_accepted():
    """Loudness alone does not see it: K-weighting all but ignores the bottom of white noise."""
    names, result, _ = _prune(band_tolerance_db=None, loudness_tolerance_lu=None)
    assert names == {"track0/eq", "track0/gain_pan"} and result.refused_by_descriptors == 0
    names, result, _ = _prune(band_tolerance_db=None)
    assert names == {"track0/eq", "track0/gain_pan"} and result.refused_by_descriptors == 0


def test_the_guard_names_the_band_and_the_loudness():
    _, _, processors_fitted = _prune(band_tolerance_db=None, loudness_tolerance_lu=None)
    _, _, _, x, target = processors_fitted
    guard = DescriptorGuard(target, target, RATE, 1.0, 0.5)
    assert guard.why_refused(target) is None
    reason = guard.why_refused(x[0])
    assert reason.startswith("mid band") and "over the fitted mix's (tolerance 1 dB)" in reason
    quiet = DescriptorGuard(target, target, RATE, None, 0.5).why_refused(target * 0.8)
    assert quiet == "loudness error -1.94 LU, 1.94 LU over the fitted mix's (tolerance 0.5 LU)"
    # a fitted mix 3 dB too quiet: a change towards the target passes, one away does not
    guard = DescriptorGuard(target * 0.708, target, RATE, None, 0.5)
    assert guard.why_refused(target * 0.9) is None and guard.why_refused(target * 0.6)


@pytest.mark.parametrize("value", [-1.0, float("nan"), "1", True])
def test_bad_tolerances_are_config_errors(value):
    with pytest.raises(ConfigError, match="band_tolerance_db"):
        PruneConfig(band_tolerance_db=value).check()
    with pytest.raises(ConfigError, match="loudness_tolerance_lu"):
        PruneConfig(loudness_tolerance_lu=value).check()


def test_the_stft_rule_refuses_an_echo_that_bands_and_loudness_let_through():
    """An echo 0.2 s late at a third of the level moves every band and the loudness by about
    0.5 dB (within 1 dB and 0.5 LU) but roughly doubles the STFT distance."""
    from grafx.metrics import mix_metrics

    target = torch.randn(2, RATE, generator=torch.Generator().manual_seed(2)) * 0.1
    fitted = 0.95 * target
    echo = fitted.clone()
    echo[:, 3200:] += 0.3 * target[:, :-3200]
    plain = DescriptorGuard(fitted, target, RATE, 1.0, 0.5)
    assert plain.why_refused(echo) is None
    guard = DescriptorGuard(fitted, target, RATE, 1.0, 0.5, stft_tolerance=0.05)
    # the guard's distance is the metric grafx evaluate reports
    for mix in (fitted, echo):
        expected = mix_metrics(mix, target, RATE)["stft_distance"]
        assert guard.distance(mix) == pytest.approx(expected, rel=1e-3)
    assert guard.distance(echo) > 1.5 * guard.fitted_distance
    assert guard.why_refused(fitted) is None and guard.why_refused(1.01 * fitted) is None
    reason = guard.why_refused(echo)
    assert reason is not None and reason.startswith("STFT distance")
    with pytest.raises(ConfigError, match="stft_tolerance"):
        PruneConfig(stft_tolerance=-0.1).check()


def test_the_band_rms_rule_refuses_a_mix_whose_bands_all_drift_within_1db():
    """The fitted mix is 0.45 dB quiet in every band; one 0.9 dB quiet is only 0.47 dB worse
    per band and 0.47 LU in loudness (within the band and loudness rules) but doubles the rms
    band error."""
    from grafx.metrics import descriptor_errors

    target = torch.randn(2, RATE, generator=torch.Generator().manual_seed(4)) * 0.1
    fitted, drifted = 0.95 * target, 0.9 * target
    assert DescriptorGuard(fitted, target, RATE, 1.0, 0.5).why_refused(drifted) is None
    guard = DescriptorGuard(fitted, target, RATE, 1.0, 0.5, band_rms_tolerance=0.05)
    # the guard's rms is the band_rms_db figure grafx evaluate reports
    expected = descriptor_errors(fitted, target, RATE)["band_rms_db"]
    assert guard.fitted_rms == pytest.approx(expected, abs=1e-3)
    assert guard.fitted_rms == pytest.approx(-20 * np.log10(0.95), abs=0.02)
    assert guard.why_refused(fitted) is None and guard.why_refused(0.96 * target) is None
    reason = guard.why_refused(drifted)
    assert reason is not None and reason.startswith("mid band error rms 0.92 dB")
    with pytest.raises(ConfigError, match="band_rms_tolerance"):
        PruneConfig(band_rms_tolerance=float("nan")).check()
