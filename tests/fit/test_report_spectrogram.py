"""The report's spectrogram: computed by blocks and pooled, it equals the whole-signal picture."""

import torch
import torch.nn.functional as F

from grafx.fit.report import _spectrogram_db
from grafx.losses import stft_magnitude


def _whole(audio: torch.Tensor, fft_size: int) -> torch.Tensor:
    mid = audio.mean(0).double()  # as the report: the mid in the audio's dtype
    return stft_magnitude(mid, fft_size, fft_size // 4, fft_size, eps=1e-12)


def test_a_short_mix_gives_every_frame_of_the_whole_spectrogram():
    audio = torch.randn(2, 20000, generator=torch.Generator().manual_seed(0))
    expected = 20 * torch.log10(_whole(audio, 1024))
    torch.testing.assert_close(_spectrogram_db(audio), expected, rtol=0, atol=1e-9)


def test_a_long_mix_is_the_max_pooled_whole_spectrogram_in_bounded_columns():
    audio = torch.randn(2, 700_000, generator=torch.Generator().manual_seed(1))
    columns = 300
    picture = _spectrogram_db(audio, 256, columns)
    whole = _whole(audio, 256)
    pool = -(-whole.shape[-1] // columns)
    expected = 20 * torch.log10(F.max_pool1d(whole[None], pool, pool, ceil_mode=True)[0])
    assert picture.shape[-1] <= columns
    torch.testing.assert_close(picture, expected, rtol=0, atol=1e-9)
