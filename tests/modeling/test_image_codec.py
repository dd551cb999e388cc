"""UMustImageCodec (RQ-VAE): shapes, locality, round trips, save/load, training, shift baking, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from umust_hf.cli import main as cli_main
from umust_hf.errors import UserError
from umust_hf.modeling.configuration_image_codec import UMustImageCodecConfig
from umust_hf.modeling.modeling_image_codec import UMustImageCodec
from umust_hf.training.image_codec_trainer import (
    CropSampler,
    ImageCodecTrainingConfig,
    bake_shift_variant_codes,
    codec_loss,
    reconstruction_psnr,
    train_image_codec,
)
from umust_hf.training.perceptual import FeatureTap, PerceptualLoss, random_conv_features

from helpers import notehead_system, pixels
from model_tester import ModelTesterMixin

torch.set_num_threads(1)

#: Tiny training settings so that the loop tests stay fast on one shared core.
FAST_ARGS = dict(crop_sizes=[(32, 32), (64, 64)], pixels_per_step=64 * 64 * 2, save_every=2, log_every=1)


def trained_forward_codec(seed: int = 0) -> UMustImageCodec:
    """The CPU codec after one training forward: EMA codebooks move off their init."""
    torch.manual_seed(seed)
    model = UMustImageCodec(UMustImageCodecConfig.cpu())
    model.train()
    model(pixels(notehead_system(width=128)))
    return model.eval()


@pytest.fixture(scope="module")
def codec() -> UMustImageCodec:
    return trained_forward_codec()


@pytest.fixture(scope="module")
def system_folder(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("systems")
    for index in range(6):
        Image.fromarray(notehead_system(width=96 + 16 * index, seed=index)).save(folder / f"system_{index}.png")
    return str(folder)


# ------------------------------------------------------------------ config
def test_presets_and_parameter_counts():
    paper, cpu = UMustImageCodecConfig.paper(), UMustImageCodecConfig.cpu()
    assert paper.latent_dim == 256 and paper.num_codebooks == 4 and paper.codebook_size == 1024
    assert paper.downsample_factor == cpu.downsample_factor == 16
    assert cpu.num_codebooks == 4 and cpu.codebook_size == 1024
    with torch.device("meta"):  # shapes only: building the 47 M-parameter codec for real is slow
        models = {name: UMustImageCodec(config) for name, config in (("cpu", cpu), ("paper", paper))}
    counts = {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}
    assert counts["cpu"] < 1_000_000 < 10_000_000 < counts["paper"]
    for model in models.values():
        assert not any("Attention" in type(m).__name__ for m in model.modules())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(channel_multipliers=[1, 0, 2]), "positive"),
        (dict(image_height=100), "multiple of the down-sampling factor"),
        (dict(codebook_size=1), "at least two codes"),
    ],
)
def test_bad_config_is_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        UMustImageCodecConfig(**overrides)


# ------------------------------------------------------------------ encode / decode
@pytest.mark.parametrize("width", [16, 80, 400])
def test_encode_decode_shapes_any_width(codec, width):
    batch = torch.cat([pixels(notehead_system(width=width, seed=s)) for s in range(2)])
    codes = codec.encode(batch)
    assert codes.shape == (2, 192 // 16, width // 16, 4) and codes.dtype == torch.long
    assert codes.min() >= 0 and codes.max() < 1024
    decoded = codec.decode(codes)
    assert decoded.shape == batch.shape
    assert decoded.min() >= -1.0 and decoded.max() <= 1.0


def test_codes_are_local_so_width_does_not_matter(codec):
    """Per-pixel norms and no attention: appending music far to the right leaves early codes alone."""
    left = notehead_system(width=320, seed=5)
    extended = np.concatenate([left, notehead_system(width=320, seed=6)], axis=1)
    short_codes = codec.encode(pixels(left))
    long_codes = codec.encode(pixels(extended))
    assert torch.equal(short_codes[..., :10, :], long_codes[..., :10, :])


@pytest.mark.parametrize(
    "shape, message",
    [((1, 1, 192, 100), "multiples of 16"), ((1, 3, 192, 96), r"\(batch, 1, height, width\)"), ((1, 1, 0, 16), "multiples")],
)
def test_encode_rejects_bad_shapes(codec, shape, message):
    with pytest.raises(ValueError, match=message):
        codec.encode(torch.zeros(shape))


def test_decode_rejects_bad_codes(codec):
    with pytest.raises(ValueError, match="must lie in"):
        codec.decode(torch.full((1, 12, 2, 4), 1024))
    with pytest.raises(ValueError, match="shape"):
        codec.decode(torch.zeros((1, 12, 2, 3), dtype=torch.long))


def test_encode_never_updates_codebooks():
    torch.manual_seed(1)
    model = UMustImageCodec(UMustImageCodecConfig.cpu()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.encode(pixels(notehead_system(width=64)))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ------------------------------------------------------------------ the shared model tester
class TestUMustImageCodec(ModelTesterMixin):
    """Save/load (identical codes, codebooks and rebuilt buffers) and encode/decode; no attention, no remote code."""

    model_class = UMustImageCodec
    remote_code = "a codec checkpoint loads through the installed package (its config has no auto_map)"
    has_attention = "a convolutional RQ-VAE"

    def make_model(self, seed: int = 0):
        return trained_forward_codec(seed)

    def make_inputs(self, model):
        return {"pixel_values": pixels(notehead_system(width=160, seed=7))}

    def encode_input(self, inputs):
        return inputs["pixel_values"]

    def outputs(self, model, inputs):
        codes = model.encode(inputs["pixel_values"])
        return codes, model.decode(codes)

    def loss(self, model, inputs):
        return model(**inputs).quantizer_loss

    def check_loaded(self, codec, loaded, inputs, folder):
        from transformers import AutoConfig

        assert type(AutoConfig.from_pretrained(folder)) is UMustImageCodecConfig
        image = inputs["pixel_values"]
        codes = codec.encode(image)
        assert torch.equal(loaded.encode(image), codes)
        assert torch.equal(loaded.decode(codes), codec.decode(codes))
        assert torch.equal(loaded.get_codebooks(), codec.get_codebooks())
        # non-persistent constants of the quantiser must be rebuilt, not left as meta-device garbage
        assert all(torch.equal(a, b) for a, b in zip(loaded.buffers(), codec.buffers()))
        loaded.train()
        assert 0.0 <= loaded(image).quantizer_loss.item() < 10.0
        assert codec.get_codebooks().shape == (4, 1024, codec.config.latent_dim)

    def check_decoded(self, model, inputs, codes, decoded):
        assert codes.shape == (1, 192 // 16, 160 // 16, 4)
        assert decoded.shape == inputs["pixel_values"].shape


# ------------------------------------------------------------------ perceptual term
def test_perceptual_loss_is_zero_for_equal_and_positive_for_different_images():
    loss = PerceptualLoss(random_conv_features(), [1.0, 0.5, 0.25])
    image = pixels(notehead_system(width=64))
    assert loss(image, image).item() == 0.0
    assert loss(image, torch.ones_like(image)).item() > 0.0
    assert all(not p.requires_grad for p in loss.parameters())
    with pytest.raises(ValueError, match="no submodules named"):
        FeatureTap(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), ["7"])


# ------------------------------------------------------------------ training
def test_loss_falls_and_reconstruction_improves():
    torch.manual_seed(0)
    model = UMustImageCodec(UMustImageCodecConfig.cpu())
    model.reset_codebook_usage()
    images = [notehead_system(width=128, seed=s) / 255.0 for s in range(4)]
    args = ImageCodecTrainingConfig(crop_sizes=[(64, 64)], pixels_per_step=64 * 64 * 4)
    batch = CropSampler(images, args, seed=0)()  # one fixed batch: the loss must fall on it
    perceptual = PerceptualLoss(random_conv_features())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, betas=args.adam_betas)
    untrained_psnr = reconstruction_psnr(model, images)
    model.train()
    losses = []
    for _ in range(40):
        terms = codec_loss(model, batch, perceptual, args)
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(terms["reconstruction"].item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert reconstruction_psnr(model, images) > untrained_psnr + 3.0


def test_train_resume_and_load(system_folder, tmp_path):
    from transformers import AutoImageProcessor, AutoModel

    out = tmp_path / "codec"
    args = ImageCodecTrainingConfig(**FAST_ARGS)
    first = train_image_codec(system_folder, out, max_steps=2, show_progress=False, training_config=args)
    assert first["steps"] == 2 and first["train_images"] == 5 and first["heldout_images"] == 1
    second = train_image_codec(system_folder, out, max_steps=4, show_progress=False, training_config=args)
    assert second["steps"] == 4  # resumed at step 2, not restarted
    history = json.loads((out / "training_log.json").read_text())
    assert [record["step"] for record in history] == [1, 2, 3, 4]
    assert history[0]["loss"] == first["first_loss"]
    model = AutoModel.from_pretrained(out)
    assert isinstance(model, UMustImageCodec)
    assert type(AutoImageProcessor.from_pretrained(out)).__name__ == "UMustImageProcessor"
    heldout = np.asarray(Image.open(f"{system_folder}/system_5.png"), np.float32) / 255.0  # last file held out
    assert second["heldout_psnr_db"] == pytest.approx(reconstruction_psnr(model, [heldout]), abs=1e-4)


def test_training_input_errors(tmp_path):
    with pytest.raises(UserError, match="--max-steps or --minutes"):
        train_image_codec(tmp_path, tmp_path / "out")
    with pytest.raises(UserError, match="no such directory"):
        train_image_codec(tmp_path / "missing", tmp_path / "out", max_steps=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        train_image_codec(tmp_path / "empty", tmp_path / "out", max_steps=1)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli_main(["train-codec", "--modality", "image", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--max-steps N or --minutes M" in capsys.readouterr().err
    missing = str(tmp_path / "missing")
    assert cli_main(["train-codec", "--modality", "image", "--data", missing, "--out", "o", "--max-steps", "1"]) == 2
    assert "no such directory" in capsys.readouterr().err


# ------------------------------------------------------------------ shift baking
def test_bake_shift_variant_codes(codec):
    system = pixels(notehead_system(width=64, seed=8))[0]
    codes = bake_shift_variant_codes(codec, system)
    assert codes.shape == (32, 12, 64 // 16 + 1, 4)
    from umust_hf.processing.image_processing_umust import image_shift_variants

    variants = image_shift_variants(system)
    assert torch.equal(codes[5], codec.encode(variants[5:6])[0])
    assert not torch.equal(codes[0], codes[9])  # shifted content gives other tokens


def test_training_on_the_embedded_corpus(embedded_corpus_dir, tmp_path):
    args = ImageCodecTrainingConfig(**FAST_ARGS)
    summary = train_image_codec(embedded_corpus_dir, tmp_path, max_steps=2, show_progress=False, training_config=args)
    assert summary["steps"] == 2 and summary["train_images"] > 0 and summary["heldout_images"] > 0
    assert np.isfinite(summary["heldout_psnr_db"])
    assert (tmp_path / "config.json").is_file() and (tmp_path / "preprocessor_config.json").is_file()
