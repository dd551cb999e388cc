"""UMustFeatureExtractor: any rate / channel layout -> padded 44.1 kHz mono batches, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from umust_hf import UMustFeatureExtractor
from umust_hf.errors import UserError

SR = 44100
HOP = 512


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def fe() -> UMustFeatureExtractor:
    return UMustFeatureExtractor()


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 22051, 32000, 48000, 96000])
def test_odd_sampling_rates_are_resampled_to_44k1(fe, rate):
    audio = sine(440.0, rate, 0.5)
    out = fe(audio, sampling_rate=rate)
    values, mask = out["input_values"], out["padding_mask"]
    assert values.shape[0] == 1 and values.shape[1] == 1 and values.dtype == torch.float32
    assert values.shape[-1] % HOP == 0
    length = int(mask.sum())
    assert abs(length - round(len(audio) * SR / rate)) <= 1
    resampled = values[0, 0, :length].numpy()
    assert abs(peak_hz(resampled, SR) - 440.0) < 3.0  # pitch preserved (bin width 2 Hz)
    assert np.all(values[0, 0, length:].numpy() == 0.0)


def test_native_rate_is_untouched(fe):
    audio = sine(1000.0, SR, 0.1)
    out = fe(audio, sampling_rate=SR, return_tensors="np")
    np.testing.assert_array_equal(out["input_values"][0, 0, : len(audio)], audio)
    assert out["input_values"].shape[-1] == -(-len(audio) // HOP) * HOP


def test_stereo_channels_first_and_last_downmix_to_the_mean(fe):
    left, right = sine(300.0, SR, 0.2), sine(700.0, SR, 0.2, 0.25)
    expected = (left + right) / 2
    first = fe(np.stack([left, right]), sampling_rate=SR)["input_values"][0, 0, : len(left)].numpy()
    last = fe(np.stack([left, right], axis=1), sampling_rate=SR)["input_values"][0, 0, : len(left)].numpy()
    np.testing.assert_allclose(first, expected, atol=1e-6)
    np.testing.assert_allclose(last, expected, atol=1e-6)
    six = np.stack([left] * 3 + [right] * 3)  # 5.1 layout, channels first
    np.testing.assert_allclose(fe(six, sampling_rate=SR)["input_values"][0, 0, : len(left)].numpy(), expected, atol=1e-6)


def test_ambiguous_layout_needs_channels_last(fe):
    square = np.ones((4, 4), dtype=np.float32)
    square[:, 0] = 0.0
    with pytest.raises(UserError, match="channels_last"):
        fe(square, sampling_rate=SR)
    out = fe(square, sampling_rate=SR, channels_last=True, return_tensors="np")  # 4 samples x 4 channels
    np.testing.assert_allclose(out["input_values"][0, 0, :4], np.full(4, 0.75))
    out = fe(square, sampling_rate=SR, channels_last=False, return_tensors="np")  # 4 channels x 4 samples
    np.testing.assert_allclose(out["input_values"][0, 0, :4], [0.0, 1.0, 1.0, 1.0])


def test_integer_pcm_is_scaled(fe):
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    out = fe(pcm, sampling_rate=SR, return_tensors="np")["input_values"][0, 0, :4]
    np.testing.assert_allclose(out, [0.0, 0.5, -1.0, 32767 / 32768], rtol=1e-6)
    unsigned = np.array([128, 255, 0], dtype=np.uint8)
    np.testing.assert_allclose(fe(unsigned, sampling_rate=SR, return_tensors="np")["input_values"][0, 0, :3], [0.0, 127 / 128, -1.0])


def test_batch_of_mixed_rates_and_layouts_is_padded_with_masks(fe):
    a = sine(440.0, 22050, 0.3)
    b = np.stack([sine(440.0, SR, 0.1)] * 2, axis=1)  # (samples, 2)
    c = torch.from_numpy(sine(440.0, 48000, 0.05))
    out = fe([a, b, c], sampling_rate=[22050, SR, 48000])
    values, mask = out["input_values"], out["padding_mask"]
    assert values.shape[:2] == (3, 1) and values.shape[-1] % HOP == 0
    assert mask.shape == (3, values.shape[-1]) and mask.dtype == torch.int64
    lengths = mask.sum(dim=1).tolist()
    assert lengths[1] == len(b)
    assert abs(lengths[0] - 2 * len(a)) <= 1 and abs(lengths[2] - round(len(c) * SR / 48000)) <= 1
    assert values.shape[-1] == -(-max(lengths) // HOP) * HOP
    for row, length in enumerate(lengths):
        assert torch.all(mask[row, :length] == 1) and torch.all(mask[row, length:] == 0)
        assert torch.all(values[row, 0, length:] == 0)


def test_datasets_style_dicts_carry_their_rate(fe):
    audio = sine(220.0, 16000, 0.25)
    out = fe([{"array": audio, "sampling_rate": 16000}, {"array": audio, "sampling_rate": 16000}])
    assert abs(int(out["padding_mask"][0].sum()) - round(len(audio) * SR / 16000)) <= 1


def test_save_and_load_through_auto_feature_extractor(tmp_path):
    from transformers import AutoFeatureExtractor

    UMustFeatureExtractor(hop_length=HOP).save_pretrained(tmp_path)
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, UMustFeatureExtractor)
    assert loaded.sampling_rate == SR and loaded.hop_length == HOP and loaded.loudness_db is None
    UMustFeatureExtractor(loudness_db=-16).save_pretrained(tmp_path / "normalised")
    assert AutoFeatureExtractor.from_pretrained(tmp_path / "normalised").loudness_db == -16.0


def _lufs(audio: np.ndarray) -> float:
    from torchaudio.functional import loudness

    return float(loudness(torch.from_numpy(audio)[None], SR))


def test_loudness_normalisation_makes_quiet_and_loud_recordings_alike(fe):
    normalising = UMustFeatureExtractor(loudness_db=-16.0)
    chord = sine(220, SR, 2.0, 0.3) + sine(330, SR, 2.0, 0.2)
    quiet, loud = chord * 0.02, chord * 1.5
    out = normalising([quiet, loud], sampling_rate=SR, return_tensors="np")["input_values"][:, 0]
    assert abs(_lufs(out[0]) - (-16.0)) < 0.1 and abs(_lufs(out[1]) - (-16.0)) < 0.1
    np.testing.assert_allclose(out[0], out[1], atol=1e-4)
    # without the option the levels stay as given
    plain = fe([quiet, loud], sampling_rate=SR, return_tensors="np")["input_values"][:, 0]
    assert _lufs(plain[1]) - _lufs(plain[0]) > 30


def test_loudness_normalisation_never_clips_and_leaves_silence_and_short_clips_sane():
    normalising = UMustFeatureExtractor(loudness_db=-1.0)
    spiky = np.zeros(SR, dtype=np.float32)
    spiky[::4410] = 0.9  # quiet on average, loud peaks: the gain would push them past full scale
    out = normalising(spiky, sampling_rate=SR, return_tensors="np")["input_values"][0, 0]
    assert np.max(np.abs(out)) == pytest.approx(1.0, abs=1e-6)
    silence = np.zeros(SR, dtype=np.float32)
    assert not normalising(silence, sampling_rate=SR, return_tensors="np")["input_values"].any()
    short = sine(440, SR, 0.1, 0.01)  # shorter than the 400 ms loudness block: measured by RMS
    scaled = UMustFeatureExtractor(loudness_db=-20.0).normalize_loudness(short)
    assert 20 * np.log10(np.sqrt(np.mean(scaled**2))) - 0.691 == pytest.approx(-20.0, abs=0.1)
    with pytest.raises(ValueError, match="loudness_db"):
        UMustFeatureExtractor(loudness_db=6.0)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros((2, 0), dtype=np.float32), "empty"),
        (np.array([0.0, np.nan, 0.1], dtype=np.float32), "NaN or infinite values \\(first at sample 1\\)"),
        (np.array([0.0, np.inf], dtype=np.float32), "NaN or infinite"),
        (np.zeros((2, 3, 100), dtype=np.float32), "got shape \\(2, 3, 100\\)"),
        (np.float32(0.5), "single number"),
        (np.array([True, False]), "real numbers"),
        (["a", "b"], "numeric"),
    ],
)
def test_bad_audio_gives_clear_errors(fe, audio, message):
    with pytest.raises(UserError, match=message):
        fe(audio, sampling_rate=SR)


def test_bad_batches_and_rates_give_clear_errors(fe):
    with pytest.raises(UserError, match="batch is empty"):
        fe([], sampling_rate=SR)
    with pytest.raises(UserError, match="example 1: audio is empty"):
        fe([sine(440.0, SR, 0.1), np.zeros(0, np.float32)], sampling_rate=SR)
    with pytest.raises(UserError, match="2 sampling rates for 1"):
        fe([sine(440.0, SR, 0.1)], sampling_rate=[SR, SR])
    with pytest.raises(UserError, match="positive number of Hz"):
        fe(sine(440.0, SR, 0.1), sampling_rate=0)
    with pytest.raises(UserError, match="'array' and 'sampling_rate'"):
        fe({"array": sine(440.0, SR, 0.1)})
    with pytest.raises(UserError, match="always pads"):
        fe(sine(440.0, SR, 0.1), sampling_rate=SR, padding=False)
