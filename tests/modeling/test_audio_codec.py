"""UMustAudioCodec (DAC wrapper): shapes, round trips, save/load, descript checkpoints, shifts, training."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import soundfile
import torch
from torch.nn.utils import parametrize

from umust_hf import UMustAudioCodec, UMustAudioCodecConfig
from umust_hf.modeling.modeling_audio_codec import audio_shift_variants
from umust_hf.errors import UserError
from umust_hf.training.audio_codec_trainer import AudioCodecTrainingConfig, train_audio_codec

from helpers import CODEC_HOP, CODEC_SR, noisy_tone, tiny_audio_codec, tiny_audio_codec_config
from model_tester import AudioCodecTesterMixin

SR = CODEC_SR
HOP = CODEC_HOP


def test_config_presets_and_validation():
    paper, cpu = UMustAudioCodecConfig.paper(), UMustAudioCodecConfig.cpu()
    for config in (paper, cpu):
        assert config.hop_length == HOP and config.sampling_rate == SR
        assert config.num_codebooks == 4 and config.codebook_size == 1024 and config.codebook_dim == 8
    assert paper.latent_dim == 1024 and paper.decoder_dim == 1536
    assert round(cpu.frame_rate, 2) == 86.13
    with pytest.raises(ValueError, match="upsample by the encoder's hop"):
        UMustAudioCodecConfig(decoder_rates=[8, 8, 4, 4])
    with pytest.raises(ValueError, match="must be positive"):
        UMustAudioCodecConfig(num_codebooks=0)


def test_paper_config_has_the_dac_44khz_size():
    with torch.device("meta"):
        model = UMustAudioCodec(UMustAudioCodecConfig.paper())
    params = sum(p.numel() for p in model.parameters())
    assert 76.0e6 < params < 77.0e6  # descript's 44 kHz DAC with 4 codebooks: 76.52 M (notes/hf-v5.md section 5)


def test_encode_decode_shapes_and_dtypes():
    codec = tiny_audio_codec()
    x = noisy_tone(2, 3000)
    codes = codec.encode(x)
    assert codes.shape == (2, 6, 4) and codes.dtype == torch.int64  # ceil(3000 / 512) = 6 frames
    assert int(codes.min()) >= 0 and int(codes.max()) < 1024
    assert torch.equal(codec.encode(x[:, 0]), codes)  # (B, T) is accepted too
    decoded = codec.decode(codes)
    assert decoded.shape == (2, 1, 6 * HOP) and decoded.dtype == torch.float32
    assert not decoded.requires_grad and float(decoded.abs().max()) <= 1.0  # tanh output
    assert codec.decode(codes[0]).shape == (1, 1, 6 * HOP)  # (T, K) is one example
    assert torch.equal(codec.num_frames(torch.tensor([1, 512, 513])), torch.tensor([1, 1, 2]))


def test_round_trip_matches_dac_and_forward():
    """encode -> decode equals descript's own encode / from_codes / decode on the same weights."""
    codec = tiny_audio_codec()
    x = noisy_tone(2, 2048)
    dac = codec.dac
    with torch.no_grad():
        _, reference_codes, _, _, _ = dac.encode(dac.preprocess(x, SR), 4)
        reference_audio = dac.decode(dac.quantizer.from_codes(reference_codes)[0])
    codes = codec.encode(x)
    assert torch.equal(codes, reference_codes.transpose(1, 2))
    with torch.no_grad():
        decoded = codec.decode(codes)
        out = codec(x)
    torch.testing.assert_close(decoded, reference_audio)
    assert torch.equal(out.audio_codes, codes)
    torch.testing.assert_close(out.audio_values, decoded[..., : x.shape[-1]])
    assert out.commitment_loss.ndim == 0 and out.codebook_loss.ndim == 0
    fewer = codec.decode(codes[..., :2])  # coarser reconstruction from the first 2 codebooks
    assert fewer.shape == decoded.shape and not torch.allclose(fewer, decoded)


def test_padding_mask_hides_samples_after_the_end():
    codec = tiny_audio_codec()
    clean = noisy_tone(1, 2048)
    clean[..., 1500:] = 0
    noisy = clean.clone()
    noisy[..., 1500:] = 0.9
    mask = torch.ones(1, 2048, dtype=torch.long)
    mask[:, 1500:] = 0
    assert torch.equal(codec.encode(noisy, mask), codec.encode(clean))
    assert not torch.equal(codec.encode(noisy), codec.encode(clean))


class TestUMustAudioCodec(AudioCodecTesterMixin):
    """Save/load (weight-norm parametrisations and every weight kept) and encode/decode; no attention, no remote code."""

    model_class = UMustAudioCodec
    remote_code = "a codec checkpoint loads through the installed package (its config has no auto_map)"
    has_attention = "a convolutional DAC"

    def make_model(self, seed: int = 0):
        codec = tiny_audio_codec(seed)
        # make magnitudes differ from the direction norms, so a loader that re-derived them would show
        with torch.no_grad():
            for module in codec.modules():
                if parametrize.is_parametrized(module, "weight"):
                    module.parametrizations.weight.original0.mul_(1.5)
        return codec

    def loss(self, model, inputs):
        out = model(**inputs)
        return out.commitment_loss + out.codebook_loss

    def check_loaded(self, codec, loaded, inputs, folder):
        x = inputs["input_values"]
        codes, decoded = codec.encode(x), codec.decode(codec.encode(x))
        assert all(parametrize.is_parametrized(m, "weight") for m in loaded.modules() if isinstance(m, torch.nn.Conv1d))
        assert torch.equal(loaded.encode(x), codes)
        assert torch.equal(loaded.decode(codes), decoded)

    def check_decoded(self, model, inputs, codes, decoded):
        assert codes.shape == (2, 8, 4)  # ceil(4000 / 512) = 8 frames
        assert decoded.shape == (2, 1, 8 * HOP)


def test_descript_checkpoint_keeps_the_first_four_codebooks(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dac

        torch.manual_seed(1)
        original = dac.DAC(encoder_dim=4, decoder_dim=32, n_codebooks=9).eval()
        path = original.save(str(tmp_path / "weights.pth"), package=False)
    x = noisy_tone(1, 3000, seed=3)
    with torch.no_grad():
        _, codes9, _, _, _ = original.encode(original.preprocess(x, SR))
        reference = original.decode(original.quantizer.from_codes(codes9[:, :4])[0])
    assert codes9.shape[1] == 9
    codec = UMustAudioCodec.from_descript_checkpoint(path, num_codebooks=4)
    assert codec.config.num_codebooks == 4 and len(codec.dac.quantizer.quantizers) == 4
    codes = codec.encode(x)
    assert torch.equal(codes, codes9[:, :4].transpose(1, 2))
    torch.testing.assert_close(codec.decode(codes), reference)
    with pytest.raises(UserError, match="has 9 codebooks, cannot keep 12"):
        UMustAudioCodec.from_descript_checkpoint(path, num_codebooks=12)
    not_a_checkpoint = tmp_path / "notes.pth"
    not_a_checkpoint.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a descript-audio-codec weights file"):
        UMustAudioCodec.from_descript_checkpoint(not_a_checkpoint)
    with pytest.raises(UserError, match="no such"):
        UMustAudioCodec.from_descript_checkpoint(tmp_path / "missing.pth")


def test_shift_variants_read_later_samples_and_pad_with_zeros():
    x = torch.arange(1, 101, dtype=torch.float32)[None, None]  # (1, 1, 100), no zeros inside
    variants = audio_shift_variants(x)
    assert variants.shape == (9, 1, 1, 100)
    shifts = list(range(-20, 21, 5))
    for index, shift in enumerate(shifts):
        row = variants[index, 0, 0]
        for t in (0, 19, 20, 50, 79, 80, 99):
            expected = float(t + shift + 1) if 0 <= t + shift < 100 else 0.0
            assert float(row[t]) == expected, (shift, t)
    assert torch.equal(variants[shifts.index(0)], x)


def test_encode_shift_variants_stacks_the_nine_encodings():
    codec = tiny_audio_codec()
    x = noisy_tone(2, 2000)
    baked = codec.encode_shift_variants(x)
    assert baked.shape == (9, 2, 4, 4)
    assert torch.equal(baked[4], codec.encode(x))
    assert torch.equal(baked[0], codec.encode(audio_shift_variants(x, [-20])[0]))


def test_codebook_embeddings_are_the_decoder_inputs_of_single_codes():
    codec = tiny_audio_codec()
    table = codec.get_codebook_embeddings()
    assert table.shape == (4, 1024, codec.config.latent_dim)
    codes = torch.tensor([[7, 300, 5, 1023]])[:, :, None]  # (1, 4, 1): one frame
    z, _, _ = codec.dac.quantizer.from_codes(codes)
    torch.testing.assert_close(z[0, :, 0], table[0, 7] + table[1, 300] + table[2, 5] + table[3, 1023])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.encode(torch.zeros(1, 2, 1000)), "mono audio of shape"),
        (lambda c: c.encode(torch.zeros(1, 1, 0)), "no samples"),
        (lambda c: c.encode(torch.zeros(1, 1, 100, dtype=torch.int16)), "floating point"),
        (lambda c: c.encode(torch.zeros(1, 1, 100), torch.ones(1, 50)), "padding_mask must have shape"),
        (lambda c: c.decode(torch.full((1, 3, 4), 1024)), "0..1023"),
        (lambda c: c.decode(torch.full((1, 3, 4), -1)), "0..1023"),
        (lambda c: c.decode(torch.zeros(1, 3, 5, dtype=torch.long)), "shape \\(B, T, 4\\)"),
        (lambda c: c.decode(torch.zeros(1, 3, 4)), "integer"),
        (lambda c: c.decode(torch.zeros(1, 0, 4, dtype=torch.long)), "no frames"),
    ],
)
def test_bad_inputs_give_clear_errors(call, message):
    with pytest.raises(UserError, match=message):
        call(tiny_audio_codec())


# ---------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    """Eleven decaying two-note chords (every 10th file is held out: 2 held-out clips)."""
    folder = tmp_path_factory.mktemp("codec-audio")
    t = np.arange(int(0.6 * SR)) / SR
    for index in range(11):
        base = 110.0 * 2 ** (index / 7)
        wave = 0.25 * (np.sin(2 * np.pi * base * t) + np.sin(2 * np.pi * 1.5 * base * t)) * np.exp(-4 * (t % 0.3))
        rate = SR if index % 2 else 22050
        wave = wave if rate == SR else wave[::2]
        soundfile.write(folder / f"chord{index:02d}.wav", np.stack([wave, wave], axis=1).astype(np.float32), rate)
    return folder


def tiny_training(**overrides) -> AudioCodecTrainingConfig:
    return AudioCodecTrainingConfig.cpu(
        **{
            "codec": tiny_audio_codec_config().to_diff_dict(),
            "batch_size": 2,
            "segment_samples": 2048,
            "learning_rate": 3e-3,
            "lr_decay": 1.0,
            "discriminator_periods": [2],
            "discriminator_fft_sizes": [256],
            "adversarial_start_step": 1000,
            "eval_clips": 2,
            "eval_seconds": 0.3,
            "checkpoint_every": 1000,
            **overrides,
        }
    )


def test_training_lowers_the_held_out_mel_distance(audio_folder, tmp_path):
    from umust_hf.evaluation.transcribers import basic_pitch_available

    metrics = train_audio_codec(audio_folder, tmp_path, max_steps=8, seed=0, show_progress=False, config=tiny_training())
    assert metrics["steps"] == 8 and metrics["held_out_clips"] == 2 and metrics["train_clips"] == 9
    assert metrics["mel_distance_trained"] < 0.8 * metrics["mel_distance_untrained"], metrics
    for usage in (metrics["codebook_usage_untrained"], metrics["codebook_usage_trained"]):
        assert len(usage) == 4 and all(1 <= n <= 1024 for n in usage)
    for stage in ("untrained", "trained"):
        perplexity = metrics[f"codebook_perplexity_{stage}"]
        assert len(perplexity) == 4 and all(1.0 <= p <= n + 1e-6 for p, n in zip(perplexity, metrics[f"codebook_usage_{stage}"]))
        assert metrics[f"min_codes_used_{stage}"] == min(metrics[f"codebook_usage_{stage}"])
        assert metrics[f"onset_f1_{stage}"] is None  # a folder of audio has no MIDI
        assert 0.0 <= metrics[f"pitch_agreement_{stage}"] <= 1.0  # needs no MIDI
        if basic_pitch_available():  # the second view: basic-pitch's notes on reconstruction vs original
            assert 0.0 <= metrics[f"transcribed_agreement_{stage}"] <= 1.0
    assert metrics["onset_f1_original"] is None
    assert 0.0 <= metrics["pitch_agreement_chance"] < 1.0
    assert json.loads((tmp_path / "training_metrics.json").read_text())["mel_distance_trained"] == metrics["mel_distance_trained"]
    loaded = UMustAudioCodec.from_pretrained(tmp_path)
    from transformers import AutoFeatureExtractor

    assert AutoFeatureExtractor.from_pretrained(tmp_path).sampling_rate == SR
    from umust_hf.training.audio_codec_trainer import load_codec_training_audio, mel_distance

    held = load_codec_training_audio(audio_folder)[1]
    assert mel_distance(loaded, held, 0.3) == pytest.approx(metrics["mel_distance_trained"], rel=1e-5)


@pytest.mark.slow  # ~30 s on a busy 2-core machine: DAC's discriminator is wide even with one period
def test_adversarial_steps_run_and_resume_exactly(audio_folder, tmp_path):
    config = tiny_training(adversarial_start_step=1, checkpoint_every=1, revive_every=1, dead_after=1, codebook_init_frames=8)
    straight = train_audio_codec(audio_folder, tmp_path / "a", max_steps=2, show_progress=False, config=config)
    assert {"disc", "adv_gen", "adv_feat", "mel"} <= set(straight["losses"])
    assert all(np.isfinite(v) for v in straight["losses"].values())
    first = train_audio_codec(audio_folder, tmp_path / "b", max_steps=1, show_progress=False, config=config)
    assert first["resumed_from"] is None and "disc" not in first["losses"]  # step 0 is the mel-only warm-up
    resumed = train_audio_codec(audio_folder, tmp_path / "b", max_steps=2, show_progress=False, config=config)
    assert resumed["resumed_from"] == 1 and resumed["steps"] == 2
    assert resumed["mel_distance_untrained"] == straight["mel_distance_untrained"]
    assert resumed["codes_revived"] == straight["codes_revived"] and sum(straight["codes_revived"]) > 0
    a = UMustAudioCodec.from_pretrained(tmp_path / "a").state_dict()
    b = UMustAudioCodec.from_pretrained(tmp_path / "b").state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name)
    with pytest.raises(UserError, match="different config"):
        train_audio_codec(audio_folder, tmp_path / "b", max_steps=3, show_progress=False, config=tiny_training(batch_size=3))


def test_training_input_errors(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        train_audio_codec(tmp_path / "missing", tmp_path / "out", max_steps=1, show_progress=False, config=tiny_training())
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither an embedded corpus nor a folder with audio"):
        train_audio_codec(tmp_path / "empty", tmp_path / "out", max_steps=1, show_progress=False, config=tiny_training())
    with pytest.raises(UserError, match="multiple of the hop"):
        tiny_training(segment_samples=1000)
    with pytest.raises(UserError, match="unknown keys"):
        AudioCodecTrainingConfig.from_dict({"batchsize": 3})


@pytest.mark.slow
def test_training_on_the_embedded_corpus(embedded_corpus_dir, tmp_path):
    metrics = train_audio_codec(embedded_corpus_dir, tmp_path, max_steps=2, show_progress=False, config=tiny_training())
    assert metrics["steps"] == 2 and metrics["train_clips"] > 0 and metrics["held_out_clips"] > 0
    assert np.isfinite(metrics["mel_distance_trained"])
    for stage in ("original", "untrained", "trained"):  # the corpus has MIDI: onset F1 is measured
        assert 0.0 <= metrics[f"onset_f1_{stage}"] <= 1.0
    assert metrics["onset_f1_original"] > 0.5  # the onset detector works on the synthesised audio itself


def test_a_time_budget_alone_stops_training(audio_folder, tmp_path):
    metrics = train_audio_codec(audio_folder, tmp_path, minutes=1e-4, show_progress=False, config=tiny_training())
    assert metrics["steps"] == 1  # the budget is checked after each step


# ---------------------------------------------------------------------- codebook revival
def crafted_quantizer(size: int = 64, seed: int = 0):
    """A dac ``VectorQuantize`` whose codebook rows all point one way: few codes win every lookup."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from dac.nn.quantize import VectorQuantize

    torch.manual_seed(seed)
    quantizer = VectorQuantize(input_dim=16, codebook_size=size, codebook_dim=8)
    with torch.no_grad():
        quantizer.codebook.weight.copy_(torch.tensor([50.0] + [0.0] * 7).expand(size, 8))
    return quantizer


def spread_latents(frames: int = 256, seed: int = 1) -> torch.Tensor:
    """``(1, 16, frames)`` latents whose projections point in all directions."""
    return torch.randn(1, 16, frames, generator=torch.Generator().manual_seed(seed))


def distinct_codes(quantizer, latents: torch.Tensor) -> int:
    with torch.no_grad():
        return int(torch.unique(quantizer(latents)[3]).numel())


def test_revival_restarts_dead_codes_from_recent_latents():
    from umust_hf.training.codebook_revival import CodebookRevival

    quantizer = crafted_quantizer()
    latents = spread_latents()
    before = distinct_codes(quantizer, latents)
    assert before <= 2  # identical rows: the first one takes every frame
    revival = CodebookRevival([quantizer], dead_after=3, buffer_size=512, seed=0)
    optimizer = torch.optim.AdamW(quantizer.parameters(), lr=1e-3)
    for _ in range(3):
        with torch.no_grad():
            _, _, _, codes, projected = quantizer(latents)
        revival.observe(projected, codes[..., None])  # codes (B, T) -> (B, T, K=1)
    dead = revival.dead_codes()[0]
    assert int(dead.sum()) == 64 - before
    quantizer.codebook.weight.grad = torch.ones_like(quantizer.codebook.weight)
    optimizer.step()  # creates Adam moments for every row
    assert revival.revive(optimizer) == [64 - before]
    after = distinct_codes(quantizer, latents)
    assert after >= 4 * before and after >= 32, (before, after)
    # revived rows are latents the stage saw; their stale Adam moments are cleared
    with torch.no_grad():
        seen = quantizer.in_proj(latents)[0].t()  # (frames, 8)
    for row in dead.nonzero().flatten()[:5]:
        assert float((seen - quantizer.codebook.weight.detach()[row]).norm(dim=1).min()) < 1e-5
    assert float(optimizer.state[quantizer.codebook.weight]["exp_avg"][dead].abs().max()) == 0.0
    assert float(optimizer.state[quantizer.codebook.weight]["exp_avg"][~dead].abs().min()) > 0.0
    assert revival.revive(optimizer) == [0]  # nothing is dead right after a restart


def test_revival_state_round_trip_continues_identically():
    from umust_hf.training.codebook_revival import CodebookRevival

    runs = []
    for reload in (False, True):
        quantizer = crafted_quantizer(seed=2)
        revival = CodebookRevival([quantizer], dead_after=2, buffer_size=100, seed=5)
        with torch.no_grad():
            _, _, _, codes, projected = quantizer(spread_latents(64, seed=3))
        revival.observe(projected, codes[..., None])
        if reload:
            state = revival.state_dict()
            revival = CodebookRevival([quantizer], dead_after=2, buffer_size=100, seed=99)
            revival.load_state_dict(state)
        revival.observe(projected, codes[..., None])
        revival.revive()
        runs.append(quantizer.codebook.weight.detach().clone())
    assert torch.equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="buffer shape"):
        CodebookRevival([crafted_quantizer()], buffer_size=7).load_state_dict(state)


def test_initialise_seeds_every_stage_from_the_data():
    from umust_hf.training.codebook_revival import CodebookRevival

    stages = [crafted_quantizer(seed=s) for s in range(2)]
    latents = spread_latents(512)
    CodebookRevival(stages).initialise(latents, kmeans_iters=5)
    residual = latents
    for quantizer in stages:
        with torch.no_grad():
            quantized, commitment, _, codes, projected = quantizer(residual)
        assert int(torch.unique(codes).numel()) >= 48  # of 64, where the crafted rows gave a handful
        # rows are cluster means of the raw latents: the picked code lies close to each latent
        assert float(commitment) < 0.5 * float(projected.pow(2).mean())
        residual = residual - quantized


def test_code_statistics_counts_and_perplexity():
    from umust_hf.training.codebook_revival import code_statistics

    uniform = torch.arange(8).repeat(4)[:, None]  # 8 codes, equally often
    collapsed = torch.zeros(32, 1, dtype=torch.long)
    half = torch.tensor([0] * 16 + [1] * 16)[:, None]
    used, perplexity = code_statistics(torch.cat([uniform, collapsed, half], dim=1), 1024)
    assert used == [8, 1, 2]
    assert perplexity == pytest.approx([8.0, 1.0, 2.0])


def test_onset_f1_of_clicks_against_their_times():
    from umust_hf.evaluation.audio_onsets import detect_onsets, merge_onsets, onset_f1

    times = np.array([0.25, 0.6, 1.0, 1.45])
    clip = np.zeros(int(1.8 * SR), dtype=np.float32)
    rng = np.random.default_rng(0)
    for t in times:  # decaying noise bursts
        start = int(t * SR)
        clip[start : start + 4410] += (0.5 * rng.standard_normal(4410) * np.exp(-np.arange(4410) / 800)).astype(np.float32)
    detected = detect_onsets(clip, SR)
    assert len(detected) == len(times) and np.abs(detected - times).max() < 0.03
    assert onset_f1([times], [clip], SR) == pytest.approx(1.0)
    assert onset_f1([times + 0.2], [clip], SR) == 0.0  # 200 ms late: outside the 50 ms window
    assert onset_f1([times[:2]], [clip], SR) == pytest.approx(2 * 2 / (2 + 4))  # two extra detections
    assert onset_f1([np.array([5.0])], [clip], SR) is None  # reference onsets past the end are dropped
    assert len(detect_onsets(np.zeros(SR, dtype=np.float32), SR)) == 0
    assert merge_onsets(np.array([0.5, 0.1, 0.11, 0.5, 0.9])).tolist() == [0.1, 0.5, 0.9]
