import math
import os

import numpy as np
import pytest
import torch

# The tests use short signals, for which one thread is fastest and timing does not depend on how
# busy the machine is.
torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One torch thread for a test, restored after it, whatever the test before it left.

    Tiny FFTs and fits of tiny tensors are dominated by thread hand-off on a shared, busy
    machine (a two-thread MKL FFT costs ~10 ms whatever its size, one thread ~20 us). Modules
    ask for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: The device the ``cuda``-marked tests compare with the CPU: CUDA by default; set
#: ``GRAFX_TEST_DEVICE=cpu`` to run their logic on a machine without a GPU (CPU against CPU),
#: as ``benchmarks/gpu_check.py --cpu-only`` does.
TEST_DEVICE = os.environ.get("GRAFX_TEST_DEVICE", "cuda")


def _no_cuda_reason() -> str | None:
    if not TEST_DEVICE.startswith("cuda") or torch.cuda.is_available():
        return None
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU build)"
    return (
        f"needs a CUDA GPU: torch {torch.__version__} has {build} and sees no GPU here "
        "(see the README's 'Running on a GPU'; GRAFX_TEST_DEVICE=cpu runs these on the CPU)"
    )


def pytest_collection_modifyitems(config, items):
    reason = _no_cuda_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def test_device() -> torch.device:
    """The device a ``cuda``-marked test runs on (see :data:`TEST_DEVICE`)."""
    return torch.device(TEST_DEVICE)


def _juce_compressor(x, sample_rate, threshold_db, ratio, attack_ms, release_ms):
    """JUCE's dsp::Compressor as its documentation states it, sample by sample: a per-channel
    peak envelope through attack/release (coefficients exp(-2 pi 1000 / (fs t_ms))), then
    (env / threshold)^(1/ratio - 1) above the threshold. ``x``: ``(C, L)`` numpy."""
    y = np.empty_like(x)
    attack = math.exp(-2 * math.pi * 1000 / (sample_rate * attack_ms))
    release = math.exp(-2 * math.pi * 1000 / (sample_rate * release_ms))
    threshold = 10 ** (threshold_db / 20)
    for c in range(x.shape[0]):
        env = 0.0
        for n in range(x.shape[1]):
            v = abs(x[c, n])
            coefficient = attack if v > env else release
            env = v + coefficient * (env - v)
            gain = 1.0 if env < threshold else (env / threshold) ** (1 / ratio - 1)
            y[c, n] = gain * x[c, n]
    return y


@pytest.fixture
def juce_compressor():
    """The sample-by-sample reference of pedalboard's (JUCE's) compressor, as a function
    ``(x, sample_rate, threshold_db, ratio, attack_ms, release_ms) -> y``."""
    return _juce_compressor
