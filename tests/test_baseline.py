"""The least-squares gain mix: exact recovery of known gains, the normal equations, bad input."""

import numpy as np
import pytest
import torch

from grafx.baseline import least_squares_gain_mix
from grafx.errors import AudioError


def noise(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_known_gains_of_stereo_and_mono_stems_are_recovered():
    stems = noise(4, 2, 3000)
    stems[1, 1] = stems[1, 0]  # one dual-mono stem among stereo ones
    gains = torch.tensor([[0.5, 0.1], [-1.5, 2.0], [0.0, 0.7], [1.2, 0.0]], dtype=torch.float64)
    target = torch.einsum("kc,kcl->cl", gains, stems)
    result = least_squares_gain_mix(stems, target)
    torch.testing.assert_close(result.gains, gains, rtol=0, atol=1e-12)
    torch.testing.assert_close(result.mix, target, rtol=0, atol=1e-12)
    mono = noise(3, 1, 2000, seed=1)
    gains = torch.tensor([[1.0, 0.25], [0.0, -0.5], [0.3, 0.3]], dtype=torch.float64)
    target = torch.einsum("kc,kl->cl", gains, mono[:, 0])
    torch.testing.assert_close(
        least_squares_gain_mix(mono, target).gains, gains, atol=1e-12, rtol=0
    )


def test_the_residual_is_orthogonal_to_every_stem():
    # The normal equations of least squares: S^T (y - S g) = 0 for each output channel.
    stems, target = noise(3, 2, 4000), noise(2, 4000, seed=5)
    result = least_squares_gain_mix(stems.float(), target.float())
    assert result.mix.dtype == torch.float32 and result.gains.shape == (3, 2)
    residual = target.float().double() - result.mix.double()
    for c in range(2):
        normal = stems.float().double()[:, c] @ residual[c]
        assert normal.abs().max() < 1e-3 * stems[:, c].norm() * target[c].norm()
    expected = np.linalg.solve(
        stems.float().double()[:, 0] @ stems.float().double()[:, 0].T,
        stems.float().double()[:, 0] @ target.float().double()[0],
    )
    np.testing.assert_allclose(result.gains[:, 0].double().numpy(), expected, rtol=1e-5)


def test_dependent_and_silent_stems_get_the_minimum_norm_gains():
    base = noise(1, 1, 1000)
    stems = torch.cat([base, base, torch.zeros(1, 1, 1000, dtype=torch.float64)])
    result = least_squares_gain_mix(stems, 2 * base[0].expand(2, -1))
    torch.testing.assert_close(
        result.gains, torch.tensor([[1.0, 1.0], [1.0, 1.0], [0, 0.0]]).double()
    )


@pytest.mark.parametrize("block", [1, 333, 4000])
def test_gains_from_accumulated_sums_equal_the_one_shot_least_squares(block):
    stems, target = noise(3, 2, 4000, seed=7), noise(2, 4000, seed=8)
    streamed = least_squares_gain_mix(stems, target, block_samples=block)
    for c in range(2):  # numpy's least squares on the whole (L, K) matrix
        expected = np.linalg.lstsq(stems[:, c].T.numpy(), target[c].numpy(), rcond=None)[0]
        np.testing.assert_allclose(streamed.gains[:, c].numpy(), expected, rtol=1e-10)
    one_shot = least_squares_gain_mix(stems, target, block_samples=1 << 20)
    torch.testing.assert_close(streamed.mix, one_shot.mix, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("stems", "target", "message"),
    [
        (noise(2, 1000), noise(2, 1000), r"stems must be \(K, C, L\).*got \(2, 1000\)"),
        (noise(2, 3, 1000), noise(2, 1000), r"got \(2, 3, 1000\)"),
        (noise(2, 2, 1000).numpy(), noise(2, 1000), "got ndarray"),
        (noise(2, 2, 1000), noise(1, 2, 1000), r"target must be \(C, L\)"),
        (noise(2, 2, 1000), noise(2, 999), "stems have 1000 samples but the target 999"),
        (noise(0, 2, 1000), noise(2, 1000), "no stems or no samples"),
        (noise(2, 2, 10).long(), noise(2, 10), "must be floating point"),
        (noise(2, 2, 10) / 0, noise(2, 10), "stems: audio contains"),
    ],
)
def test_bad_input(stems, target, message):
    with pytest.raises(AudioError, match=message):
        least_squares_gain_mix(stems, target)
