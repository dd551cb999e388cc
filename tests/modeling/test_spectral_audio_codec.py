"""UMustSpectralAudioCodec (residual k-means over log-spectrogram frames): layout, save/load, remote
code, and whether its fitted codes tell pitches apart (against random codes, the control)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from umust_hf import UMustSpectralAudioCodec, UMustSpectralAudioCodecConfig
from umust_hf.constants import CODEBOOK_SIZE, HOP_LENGTH, NUM_CODEBOOKS, SAMPLE_RATE
from umust_hf.errors import UserError
from umust_hf.training.spectral_codec_trainer import fit_stage, train_spectral_audio_codec
from umust_hf.vocabulary import UnifiedVocabulary

from helpers import noisy_tone
from model_tester import AudioCodecTesterMixin

PITCHES = (48, 52, 55, 60, 64, 67, 72, 76)  # MIDI numbers: C3 .. E5


def piano_like(pitch: int, seconds: float, seed: int) -> np.ndarray:
    """A decaying harmonic tone of MIDI ``pitch`` with a random level, phase and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
    wave = rng.uniform(0.2, 0.5) * tone * np.exp(-2.0 * t) / 2.3 + 0.003 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def random_codebooks(codec: UMustSpectralAudioCodec, seed: int = 0) -> UMustSpectralAudioCodec:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        codec.codebooks.copy_(torch.randn(codec.codebooks.shape, generator=generator) * 20 - 40)
    return codec


def small_config(**overrides) -> UMustSpectralAudioCodecConfig:
    return UMustSpectralAudioCodecConfig(**{"codebook_size": 32, "num_codebooks": 2, "griffin_lim_iters": 4, **overrides})


class TestUMustSpectralAudioCodec(AudioCodecTesterMixin):
    """Save/load (the centroids in safetensors), remote code, encode/decode; no attention, nothing to checkpoint."""

    model_class = UMustSpectralAudioCodec
    has_attention = "a spectrogram and k-means centroids, no attention"

    def make_model(self, seed: int = 0):
        return random_codebooks(UMustSpectralAudioCodec(small_config()).eval(), seed)

    def check_loaded(self, codec, loaded, inputs, folder):
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            assert set(weights.keys()) == {"codebooks"}  # the centroids are all there is

    def save_remote_code_expectations(self, model, folder):
        inputs = self.make_inputs(model)
        torch.save((inputs["input_values"], *self.outputs(model, inputs)), folder / "expected.pt")

    def remote_code_checks(self):
        return """
            import sys
            audio, codes, decoded = torch.load(folder + "/expected.pt")
            assert torch.equal(model.encode(audio), codes)
            # Griffin-Lim iterates FFTs, whose sums differ with the thread count (this process has one)
            torch.testing.assert_close(model.decode(codes), decoded, atol=2e-2, rtol=0)
            assert "sklearn" not in sys.modules
        """

    def check_decoded(self, model, inputs, codes, decoded):
        assert codes.shape[1] == -(-inputs["input_values"].shape[-1] // HOP_LENGTH)
        assert decoded.shape == (2, 1, codes.shape[1] * HOP_LENGTH)


def test_preset_has_the_vocabulary_layout_and_rejects_bad_settings():
    config = UMustSpectralAudioCodecConfig.cpu_spectral()
    assert (config.sampling_rate, config.hop_length, config.num_codebooks, config.codebook_size) == (
        SAMPLE_RATE, HOP_LENGTH, NUM_CODEBOOKS, CODEBOOK_SIZE)
    assert config.frame_rate == pytest.approx(86.13, abs=0.01) and config.feature_dim == 128
    assert UMustSpectralAudioCodecConfig(features="stft").feature_dim == 512
    with pytest.raises(ValueError, match="features must be one of"):
        UMustSpectralAudioCodecConfig(features="cqt")
    with pytest.raises(ValueError, match="exceeds"):
        UMustSpectralAudioCodecConfig(features="stft", stft_bins=2000)
    with pytest.raises(ValueError, match="band_edges must rise"):
        UMustSpectralAudioCodecConfig(band_edges=[0, 64, 32, 100, 128])
    bands = UMustSpectralAudioCodecConfig(features="stft", band_edges=[0, 48, 96, 192, 512])
    assert bands.band(0) == slice(0, 48) and bands.band(3) == slice(192, 512)
    assert config.band(2) == slice(0, 128)  # residual: every codebook sees the whole frame


def test_band_codebooks_only_touch_their_own_bins():
    codec = random_codebooks(UMustSpectralAudioCodec(small_config(band_edges=[0, 40, 128])))
    with torch.no_grad():
        codec.codebooks[0, :, 40:] = 0
        codec.codebooks[1, :, :40] = 0
    frames = codec.frames(codec._as_waveform(noisy_tone(1, 4000)))
    codes, quantised = codec.quantize(frames)
    # the first band's code is the nearest centroid over bins 0-39 alone
    expected = torch.cdist(frames[0, :, :40], codec.codebooks[0, :, :40]).argmin(-1)
    assert torch.equal(codes[0, :, 0], expected)
    torch.testing.assert_close(quantised, codec.dequantize(codes))


def test_codes_fill_the_unified_vocabulary_audio_slots():
    codec = random_codebooks(UMustSpectralAudioCodec(UMustSpectralAudioCodecConfig(griffin_lim_iters=2)))
    codes = codec.encode(noisy_tone(1, SAMPLE_RATE))  # one second: 87 frames of 4 codes
    assert codes.shape == (1, 87, 4)
    bundle = UnifiedVocabulary().to_bundle(codes[0].numpy(), "audio")
    assert bundle.shape == (87, 4) and len(np.unique(bundle)) > 4


@pytest.mark.parametrize(("features", "band_edges"), [("mel", None), ("stft", None), ("stft", [0, 96, 512])],
                         ids=["mel-residual", "stft-residual", "stft-bands"])
def test_fitted_codes_tell_pitches_apart_and_random_codes_do_not(features, band_edges):
    """Nearest class mean over the decoded frames (the sum of each frame's centroids): trained on one
    rendition of each pitch, scored on another; with codes drawn at random it is at chance."""
    codec = UMustSpectralAudioCodec(small_config(features=features, band_edges=band_edges)).eval()

    def frames_of(seed: int) -> tuple[torch.Tensor, np.ndarray]:
        clips = [codec.frames(torch.from_numpy(piano_like(p, 0.5, seed * 100 + i))[None, None].contiguous())[0, 2:-2]
                 for i, p in enumerate(PITCHES)]
        return torch.cat(clips), np.repeat(np.arange(len(PITCHES)), [len(c) for c in clips])

    train_frames, train_labels = frames_of(1)
    test_frames, test_labels = frames_of(2)
    residual, fitted = train_frames, []
    for stage in range(codec.config.num_codebooks):
        centroids, residual = fit_stage(residual, codec.config.codebook_size, iterations=10, seed=stage,
                                        band=codec.config.band(stage))
        fitted.append(centroids)
    with torch.no_grad():
        codec.codebooks.copy_(torch.stack(fitted))

    def accuracy(train_codes: torch.Tensor, test_codes: torch.Tensor) -> float:
        seen, held = codec.dequantize(train_codes[None])[0], codec.dequantize(test_codes[None])[0]
        means = torch.stack([seen[train_labels == k].mean(0) for k in range(len(PITCHES))])
        return float((torch.cdist(held, means).argmin(-1).numpy() == test_labels).mean())

    fitted_codes = (codec.quantize(train_frames[None])[0][0], codec.quantize(test_frames[None])[0][0])
    generator = torch.Generator().manual_seed(0)
    random_codes = tuple(torch.randint(0, codec.config.codebook_size, c.shape, generator=generator) for c in fitted_codes)
    chance = 1 / len(PITCHES)
    assert accuracy(*fitted_codes) > 0.8
    assert accuracy(*random_codes) < chance + 0.15


def test_fit_on_a_folder_resumes_and_saves_a_loadable_codec(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for index, pitch in enumerate(PITCHES * 2):
        soundfile.write(folder / f"note{index:02d}.wav", piano_like(pitch, 0.6, index), SAMPLE_RATE)
    config = small_config()
    metrics = train_spectral_audio_codec(folder, tmp_path / "codec", config=config, max_frames=2000,
                                         kmeans_iterations=3, show_progress=False)
    assert metrics["codec"] == "spectral" and metrics["train_clips"] == 14 and metrics["held_out_clips"] == 2
    assert len(metrics["codebook_usage_trained"]) == 2 and metrics["min_codes_used_trained"] >= 1
    assert 0.0 <= metrics["pitch_agreement_trained"] <= 1.0
    saved = json.loads((tmp_path / "codec" / "training_metrics.json").read_text())
    assert saved["pitch_agreement_trained"] == metrics["pitch_agreement_trained"]
    loaded = UMustSpectralAudioCodec.from_pretrained(tmp_path / "codec")
    assert loaded.codebooks.abs().sum() > 0
    card = (tmp_path / "codec" / "README.md").read_text()  # the card shows the figures just measured
    assert f"| pitch agreement with the original | {metrics['pitch_agreement_trained']:.4g} |" in card
    assert "one band of" not in card and "residual" in card and "library_name: transformers" in card
    state = tmp_path / "codec" / "checkpoint" / "state.pt"
    stages = torch.load(state, weights_only=True)["codebooks"]
    # resuming replays the fitted stages: the same centroids come back
    again = train_spectral_audio_codec(folder, tmp_path / "codec", config=config, max_frames=2000,
                                       kmeans_iterations=3, show_progress=False)
    assert torch.equal(UMustSpectralAudioCodec.from_pretrained(tmp_path / "codec").codebooks, stages)
    assert again["pitch_agreement_trained"] == metrics["pitch_agreement_trained"]
    with pytest.raises(UserError, match="other settings"):
        train_spectral_audio_codec(folder, tmp_path / "codec", config=config, max_frames=1000, show_progress=False)


def test_cli_refuses_spectral_options_without_the_spectral_preset(tmp_path, capsys):
    from umust_hf.cli import main

    args = ["train-codec", "--modality", "audio", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--max-steps", "1"]
    assert main([*args, "--bands"]) == 2
    assert "with --preset cpu_spectral" in capsys.readouterr().err
    assert main([*args, "--preset", "cpu_spectral", "--modality", "image"]) == 2
    assert "is an audio codec" in capsys.readouterr().err
    assert main([*args, "--preset", "cpu_spectral"]) == 2  # an empty folder: no audio
    assert "neither an embedded corpus nor a folder with audio" in capsys.readouterr().err
    assert not (tmp_path / "o" / "model.safetensors").exists()
