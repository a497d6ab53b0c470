import warnings

import pytest

import grafx.processors as P
import grafx.processors.core.deprecation as deprecation


@pytest.mark.parametrize(
    ("old", "successor"),
    [
        ("ZeroPhaseFIREqualizer", "NewZeroPhaseFIREqualizer"),
        ("ApproxCompressor", "Compressor"),
        ("ApproxNoiseGate", "NoiseGate"),
        ("MidSideFilteredNoiseReverb", "STFTMaskedNoiseReverb"),
        ("StereoMultitapDelay", "MultitapDelay"),
    ],
)
def test_old_names_warn_once_naming_their_successor(monkeypatch, old, successor):
    monkeypatch.setattr(deprecation, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(P, old)()
        getattr(P, old)()
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1
    assert messages[0].startswith(f"{old} is deprecated") and successor in messages[0]
    # The warning points at the code that built the processor, not at grafx.
    assert caught[0].filename == __file__
