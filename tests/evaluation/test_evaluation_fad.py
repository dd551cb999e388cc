"""FAD: zero for identical sets, hand-computed Gaussian cases, fadtk's sqrtm formula, FAD∞, embedding."""

import numpy as np
import pytest
from scipy import linalg

from umust_hf.evaluation.fad import (
    LogMelEmbedding,
    embedding_statistics,
    fad_infinity,
    frechet_audio_distance,
    frechet_distance,
)


def test_identical_sets_score_zero():
    x = np.random.default_rng(0).normal(size=(400, 16))
    assert frechet_audio_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_mean_shift_adds_squared_distance():
    x = np.random.default_rng(1).normal(size=(300, 8))
    # shifting every frame by c in every dimension keeps the covariance: FAD = dim * c^2
    for c in (0.5, 1.0, 2.0):
        assert frechet_audio_distance(x, x + c) == pytest.approx(8 * c**2, rel=1e-6)
    scores = [frechet_audio_distance(x, x + c) for c in (0.1, 0.5, 1.0, 3.0)]
    assert scores == sorted(scores)


def test_one_dimensional_hand_case():
    rng = np.random.default_rng(2)
    a = rng.normal(1.0, 2.0, size=(500, 1))
    b = rng.normal(-1.0, 0.5, size=(700, 1))
    # for 1-D Gaussians: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2, sample std with ddof 1 as np.cov
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_audio_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]])) == pytest.approx(
        10.0
    )


def test_matches_fadtk_style_sqrtm_formula():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(600, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 0.3
    mu_a, cov_a = a.mean(0), np.cov(a, rowvar=False)
    mu_b, cov_b = b.mean(0), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    expected = (mu_a - mu_b) @ (mu_a - mu_b) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root)
    assert frechet_audio_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_per_clip_lists_pool_all_frames():
    rng = np.random.default_rng(4)
    clips_a = [rng.normal(size=(n, 4)) for n in (30, 50, 20)]
    clips_b = [rng.normal(size=(n, 4)) + 1 for n in (40, 40)]
    assert frechet_audio_distance(clips_a, clips_b) == pytest.approx(
        frechet_audio_distance(np.concatenate(clips_a), np.concatenate(clips_b))
    )
    mu, cov = embedding_statistics(clips_a)
    assert mu.shape == (4,) and cov.shape == (4, 4)


def test_bad_embeddings_are_reported():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_audio_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="sizes differ"):
        frechet_audio_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_audio_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


def test_fad_infinity_extrapolates_below_small_sample_bias():
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(20000, 8))
    generated = rng.normal(size=(3000, 8))  # same distribution: true FAD 0
    result = fad_infinity(reference, generated, min_n=200, steps=10, seed=0)
    small_n_score = result.points[0][1]
    assert [n for n, _ in result.points][0] == 200 and result.points[-1][0] == 3000
    assert abs(result.score) < small_n_score / 3
    assert result.slope > 0  # FAD grows as n shrinks
    assert fad_infinity(reference, generated, min_n=200, steps=10, seed=0) == result  # seeded
    with pytest.raises(ValueError, match="min_n"):
        fad_infinity(reference, generated[:100], min_n=200)


def test_logmel_embedding_shape_determinism_and_sensitivity():
    embed = LogMelEmbedding()
    t = np.arange(44100 * 2) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    frames = embed(tone, 44100)
    assert frames.shape == (20, 64)  # 10 frames/s, 64 mel bands
    np.testing.assert_array_equal(frames, embed(tone, 44100))
    # the same tone given at 16 kHz embeds (nearly) the same after resampling
    t16 = np.arange(16000 * 2) / 16000
    assert np.abs(embed(0.3 * np.sin(2 * np.pi * 440 * t16), 16000) - frames).mean() < 0.05
    rng = np.random.default_rng(6)
    noisy_tone = [embed(tone + 0.001 * rng.normal(size=t.size), 44100) for _ in range(3)]
    other_tone = [embed(0.3 * np.sin(2 * np.pi * 660 * t) + 0.001 * rng.normal(size=t.size), 44100) for _ in range(3)]
    noise = [embed(0.3 * rng.normal(size=t.size), 44100) for _ in range(3)]
    reference = [embed(tone + 0.001 * rng.normal(size=t.size), 44100) for _ in range(3)]
    same = frechet_audio_distance(reference, noisy_tone)
    assert same < frechet_audio_distance(reference, other_tone) < frechet_audio_distance(reference, noise)
    with pytest.raises(ValueError, match="mono"):
        embed(np.zeros(0), 44100)


def test_codec_latent_embedding_uses_the_codec_encoder():
    import torch

    from umust_hf.evaluation.fad import CodecLatentEmbedding
    from umust_hf.modeling.configuration_audio_codec import UMustAudioCodecConfig
    from umust_hf.modeling.modeling_audio_codec import UMustAudioCodec

    torch.manual_seed(0)
    codec = UMustAudioCodec(UMustAudioCodecConfig.cpu())
    embed = CodecLatentEmbedding(codec)
    t = np.arange(44100) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    frames = embed(tone, 44100)
    hop = int(np.prod(codec.config.encoder_rates))
    with torch.no_grad():
        padded = np.pad(tone, (0, -len(tone) % hop))
        direct = codec.dac.encoder(torch.tensor(padded, dtype=torch.float32)[None, None])[0].T.numpy()
    assert frames.shape == (int(np.ceil(44100 / hop)), direct.shape[1])
    np.testing.assert_allclose(frames, direct, rtol=1e-5, atol=1e-6)
    assert frechet_audio_distance(
        [frames, embed(tone[::-1].copy(), 44100)], [frames, embed(tone[::-1].copy(), 44100)]
    ) == pytest.approx(0.0, abs=1e-6)
