"""UMustConfig and UMustForConditionalGeneration: presets, loss, masking, saving/loading, training knobs."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig

import umust_hf
from umust_hf import UMustConfig, UMustForConditionalGeneration
from umust_hf.vocabulary import EOS_ID, MODALITY_ORDER, PAD_ID, SEP_ID, SOS_ID, Modality

from helpers import AUDIO, IMAGE, NOTATION, assert_valid_bundles, audio_sources, tiny_model, translator_batch
from model_tester import ModelTesterMixin



# ---------------------------------------------------------------- config
# Paper Table 11: dimension, enc/dec layers, heads, sub-decoder heads.
TABLE_11 = {
    "omr_only": (512, 12, 8, 8), "i2a_only": (768, 12, 10, 10), "m2a_only": (512, 4, 8, 8),
    "omr_i2a": (1024, 12, 16, 8), "omr_i2a_m2a": (1024, 12, 16, 8), "amt_only": (768, 12, 12, 8),
    "a2i_only": (768, 12, 10, 10), "amt_a2i": (1024, 12, 16, 8), "amt_a2i_l2i": (1024, 12, 16, 8),
}


@pytest.mark.parametrize("name", sorted(TABLE_11))
def test_presets_follow_table_11(name):
    config = UMustConfig.from_preset(name)
    d_model, layers, heads, sub_heads = TABLE_11[name]
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (d_model, layers, layers)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (heads, heads)
    assert config.sub_decoder_attention_heads == sub_heads
    assert config.decoder_ffn_dim == 4 * d_model
    assert config.head_dim == 64  # x_transformers' default head width; 768 / 10 heads is not an integer
    assert config.num_hidden_layers == layers and config.hidden_size == d_model


def test_official_width_builds_with_ten_heads():
    config = UMustConfig.from_preset("i2a_only", encoder_layers=1, decoder_layers=1, notation_size=8,
                                     midi_size=8, image_codebook_size=8, audio_codebook_size=8)
    model = UMustForConditionalGeneration(config)
    attention = model.decoder.layers[0].self_attn
    assert attention.q_proj.weight.shape == (640, 768) and attention.o_proj.weight.shape == (768, 640)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown preset"):
        UMustConfig.from_preset("gigantic")
    with pytest.raises(StrictDataclassClassValidationError, match="not divisible"):
        UMustConfig(d_model=768, encoder_attention_heads=10)
    with pytest.raises(ValueError, match="vocab_size"):
        UMustConfig(vocab_size=17)
    config = UMustConfig()
    assert config.vocab_size == config.vocabulary.size
    assert [config.max_positions(m) for m in ("notation", "midi", "image", "audio")] == [1400, 1000, 1000, 1750]


# ---------------------------------------------------------------- loss
def test_loss_is_mean_over_valid_slots_only():
    model = tiny_model()
    inputs = translator_batch(model.config)
    out = model(**inputs)
    labels = inputs["labels"]
    assert out.logits.shape == (2, 5, 4, model.config.vocab_size)
    log_probs = out.logits.float().log_softmax(-1)
    # independent reference: audio row uses all 4 codebooks, notation row only codebook 0 of 4 frames
    terms = [-log_probs[0, t, k, labels[0, t, k]] for t in range(5) for k in range(4)]
    terms += [-log_probs[1, t, 0, labels[1, t, 0]] for t in range(4)]
    torch.testing.assert_close(out.loss, torch.stack(terms).mean())
    per_codebook = [torch.stack([-log_probs[0, t, k, labels[0, t, k]] for t in range(5)]) for k in range(4)]
    per_codebook[0] = torch.cat([per_codebook[0], torch.stack([-log_probs[1, t, 0, labels[1, t, 0]] for t in range(4)])])
    torch.testing.assert_close(out.codebook_losses, torch.stack([c.mean() for c in per_codebook]))


def test_training_loss_skips_full_logits_but_matches_them_and_their_gradients():
    model = tiny_model(seed=2).train()
    inputs = translator_batch(model.config, seed=2)

    def loss_and_gradients(**kwargs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad()
        out = model(**inputs, **kwargs)
        if out.logits is None:
            loss = out.loss
        else:  # the reference: cross-entropy over the full masked logits
            loss = model.loss_from_logits(out.logits, model._checked_labels(inputs["labels"], inputs["target_modality"]))[0]
        loss.backward()
        return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    assert model(**inputs).logits is None  # training with labels: no (B, T, K, V) tensor
    sliced_loss, sliced = loss_and_gradients()
    full_loss, full = loss_and_gradients(return_logits=True)
    torch.testing.assert_close(sliced_loss, full_loss)
    assert sliced.keys() == full.keys()
    for name, grad in full.items():
        torch.testing.assert_close(sliced[name], grad, atol=1e-6, rtol=1e-4)


def test_unused_slots_of_single_stream_targets_are_ignored():
    model = tiny_model()
    inputs = translator_batch(model.config)
    reference = model(**inputs).loss
    noisy = inputs["labels"].clone()
    noisy[1, :, 1:] = 5000  # garbage where a notation target has no tokens
    torch.testing.assert_close(model(**{**inputs, "labels": noisy}).loss, reference)


def test_sub_decoder_is_causal_over_slots():
    model = tiny_model()
    inputs = translator_batch(model.config)
    decoder_input_ids = model.shift_labels_right(inputs["labels"])
    base = model(**inputs, decoder_input_ids=decoder_input_ids).logits
    changed = inputs["labels"].clone()
    changed[0, :, 2] = changed[0, :, 2].roll(1)  # codebook 2 tokens only
    logits = model(**{**inputs, "labels": changed}, decoder_input_ids=decoder_input_ids).logits
    torch.testing.assert_close(logits[0, :, :3], base[0, :, :3])  # slots 0..2 never see token 2
    assert not torch.allclose(logits[0, :, 3], base[0, :, 3])  # slot 3 does
    assert torch.count_nonzero(model.sub_decoder.slot_position) == 0  # zero-initialised


def test_training_lowers_the_loss():
    model = tiny_model(seed=1).train()
    inputs = translator_batch(model.config, seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        loss = model(**inputs).loss
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_bad_inputs_raise_clear_errors():
    model = tiny_model()
    inputs = translator_batch(model.config)
    wrong = inputs["labels"].clone()
    wrong[1, 0, 0] = model.config.vocabulary.offset("image", 0)  # an image id for a notation target
    with pytest.raises(ValueError, match=r"labels\[1, 0, 0\].*not a notation codebook 0 id"):
        model(**{**inputs, "labels": wrong})
    with pytest.raises(ValueError, match="input_ids must be"):
        model(**{**inputs, "input_ids": inputs["input_ids"][..., 0]})
    with pytest.raises(ValueError, match="outside the unified vocabulary"):
        model(**{**inputs, "input_ids": inputs["input_ids"] + model.config.vocab_size})
    with pytest.raises(ValueError, match="target_modality"):
        model(**{**inputs, "target_modality": torch.tensor([0, 7])})
    too_long = torch.zeros(2, model.config.max_image_positions + 1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="exceeds max_image_positions"):
        model(**{**inputs, "input_ids": too_long, "attention_mask": None})


# ---------------------------------------------------------------- masking and persistence
def assert_masked_outside_target(model: UMustForConditionalGeneration, logits: torch.Tensor,
                                 target: torch.Tensor) -> None:
    vocabulary = model.config.vocabulary
    for row in range(logits.shape[0]):
        modality = MODALITY_ORDER[int(target[row])]
        for k in range(logits.shape[2]):
            allowed = torch.zeros(vocabulary.size, dtype=torch.bool)
            if k < vocabulary.num_streams(modality.value):
                id_range = vocabulary.id_range(modality.value, k)
                allowed[id_range.start : id_range.stop] = True
                allowed[EOS_ID] = k == 0
                allowed[SEP_ID] = k == 0 and modality is Modality.IMAGE
            else:
                allowed[PAD_ID] = True
            assert torch.isneginf(logits[row, :, k][:, ~allowed]).all()
            assert torch.isfinite(logits[row, :, k][:, allowed]).all()


def test_registration_happens_on_import():
    from transformers import AutoConfig

    assert umust_hf.UMustConfig is UMustConfig
    assert isinstance(AutoConfig.for_model("umust"), UMustConfig)


# ---------------------------------------------------------------- the shared model tester
class TestUMustForConditionalGeneration(ModelTesterMixin):
    """Save/load through the Auto classes, remote code, gradient checkpointing, SDPA vs eager, generate."""

    model_class = UMustForConditionalGeneration
    auto_classes = ("AutoModel", "AutoModelForSeq2SeqLM")

    def make_model(self, seed: int = 0):
        return tiny_model(seed)

    def make_inputs(self, model):
        return translator_batch(model.config)

    def outputs(self, model, inputs):
        return model(**inputs).logits

    def loss(self, model, inputs):
        return model(**inputs).loss

    def check_loaded(self, model, loaded, inputs, folder):
        assert isinstance(AutoConfig.from_pretrained(folder), UMustConfig)
        assert loaded.config._attn_implementation == "sdpa"
        loaded.eval()
        assert_masked_outside_target(loaded, loaded(**inputs).logits, inputs["target_modality"])
        # every target modality, codebook 0 only (no labels)
        for target in range(len(MODALITY_ORDER)):
            targets = torch.full((2,), target)
            out = loaded(**{**inputs, "labels": None, "target_modality": targets},
                         decoder_input_ids=torch.tensor([[[1, 0, 0, 0]]] * 2))
            assert_masked_outside_target(loaded, out.logits, targets)

    def save_remote_code_expectations(self, model, folder):
        inputs = self.make_inputs(model)
        torch.save({k: v for k, v in inputs.items()}, folder / "inputs.pt")
        torch.save(model(**inputs).loss, folder / "loss.pt")

    def remote_code_checks(self):
        return """
            inputs = torch.load(folder + "/inputs.pt")
            loss = model(**inputs).loss
            torch.testing.assert_close(loss, torch.load(folder + "/loss.pt"))
            out = model.generate(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                 source_modality="image", target_modality="audio", max_new_tokens=2)
            assert out.shape == (2, 3, 4), out.shape
        """

    def check_checkpointing_enabled(self, model):
        assert model.encoder.layers[0].gradient_checkpointing

    def generate_kwargs(self, model, inputs):
        return {**audio_sources(model.config), "target_modality": torch.tensor([IMAGE, NOTATION, AUDIO]),
                "max_new_tokens": 6}

    def check_generated(self, model, inputs, sequences):
        assert sequences.shape[0] == 3 and sequences.shape[2] == 4 and 2 <= sequences.shape[1] <= 7
        assert_valid_bundles(model, sequences, torch.tensor([IMAGE, NOTATION, AUDIO]))


# ---------------------------------------------------------------- training knobs
def test_qk_norm_normalises_queries_and_keys_and_survives_saving(tmp_path):
    plain, normed = tiny_model(), tiny_model(qk_norm=True)
    assert plain.decoder.layers[0].cross_attn.q_norm is None
    attention = normed.decoder.layers[0].cross_attn
    seen = {}
    attention.k_norm.register_forward_hook(lambda module, args, output: seen.setdefault("keys", output))
    inputs = translator_batch(normed.config)
    sdpa = normed(**inputs).logits
    rms = seen["keys"].pow(2).mean(dim=-1).sqrt()  # (B, H, S): unit RMS per head before training
    torch.testing.assert_close(rms, torch.ones_like(rms), atol=1e-3, rtol=1e-3)
    normed.set_attn_implementation("eager")
    eager = normed(**inputs).logits
    finite = torch.isfinite(sdpa)
    torch.testing.assert_close(eager[finite], sdpa[finite], atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        attention.q_norm.weight.mul_(3.0)  # a trained gain must be saved and loaded
    normed.save_pretrained(tmp_path)
    loaded = UMustForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.config.qk_norm is True
    torch.testing.assert_close(loaded.decoder.layers[0].cross_attn.q_norm.weight, attention.q_norm.weight)


def test_bfloat16_forward_and_backward():
    model = tiny_model().to(torch.bfloat16).train()
    out = model(**translator_batch(model.config), return_logits=True)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.lm_head.weight.grad.dtype == torch.bfloat16


# ---------------------------------------------------------------- codec embeddings
def test_codec_codebooks_initialise_token_embeddings():
    model = tiny_model()
    vocabulary = model.config.vocabulary
    weight = model.get_input_embeddings().weight
    audio = torch.randn(4, 1024, model.config.d_model)
    image = torch.randn(4, 1024, 8)  # narrower than d_model: fixed semi-orthogonal projection
    notation_before = weight[vocabulary.id_range("notation", 0).start].clone()
    model.init_codec_embeddings(image_codebooks=image, audio_codebooks=audio)
    for k in range(4):
        rows = vocabulary.id_range("audio", k)
        torch.testing.assert_close(weight[rows.start : rows.stop], audio[k])
    projected = weight[vocabulary.id_range("image", 2).start :][:1024]
    torch.testing.assert_close(projected @ projected.T, image[2] @ image[2].T, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(weight[vocabulary.id_range("notation", 0).start], notation_before)
    with pytest.raises(ValueError, match=r"audio_codebooks must have shape \(4, 1024, dim\)"):
        model.init_codec_embeddings(audio_codebooks=torch.randn(9, 1024, 8))


def test_decoder_input_dropout_hides_prefix_frames_in_training_only():
    config = UMustConfig.from_preset("tiny", decoder_input_dropout=0.5)
    model = UMustForConditionalGeneration(config)
    inputs = torch.randint(4, 60, (4, 50, 4))
    inputs[:, 0] = SOS_ID
    torch.manual_seed(0)
    dropped = model.drop_decoder_inputs(inputs)
    hidden = (dropped == PAD_ID).all(-1)
    assert not hidden[:, 0].any()  # SOS always stays
    assert 0.3 < float(hidden[:, 1:].float().mean()) < 0.7
    assert torch.equal(dropped[~hidden], inputs[~hidden])  # the rest is untouched
    source = torch.randint(4, 60, (4, 7, 4))
    labels = torch.randint(4, 60, (4, 6, 4))
    kwargs = dict(input_ids=config.vocabulary.id_range("image", 0).start + source, labels=labels,
                  source_modality="image", target_modality="notation")
    model.eval()
    assert torch.equal(model(**kwargs).loss, model(**kwargs).loss)  # no dropout at evaluation
    model.train()
    torch.manual_seed(1)
    first = model(**kwargs).loss
    torch.manual_seed(2)
    assert not torch.equal(first, model(**kwargs).loss)  # a different prefix is hidden each time
    with pytest.raises(StrictDataclassClassValidationError, match="decoder_input_dropout"):
        UMustConfig.from_preset("tiny", decoder_input_dropout=1.0)


def test_sinusoidal_position_init_gives_the_image_table_its_row_and_column_geometry(tmp_path):
    from umust_hf.constants import PATCH_SIZE, SYSTEM_HEIGHT_PX
    from umust_hf.modeling.modeling_umust import UMustEmbeddings

    config = UMustConfig.from_preset("tiny", position_init="sinusoidal")
    assert config.image_rows == SYSTEM_HEIGHT_PX // PATCH_SIZE  # the processor's column-by-column order
    model = tiny_model(position_init="sinusoidal")
    table = model.get_encoder().embeddings.position_embedding.weight.detach().clone()
    start = int(UMustEmbeddings.table_offsets(config)[MODALITY_ORDER.index(Modality.IMAGE)])
    image = table[start : start + config.max_image_positions]
    rows, half = config.image_rows, config.d_model // 2
    # same row, different column: the row half is identical; same column, different row: the column half
    assert torch.allclose(image[3, half:], image[3 + 5 * rows, half:])
    assert torch.allclose(image[2 * rows, :half], image[2 * rows + 7, :half])
    assert not torch.allclose(image[3, :half], image[3 + 5 * rows, :half])
    # neighbours are closer than distant positions (a random table has no such order)
    notation = table[: config.max_notation_positions]
    assert torch.dist(notation[10], notation[11]) < torch.dist(notation[10], notation[200])
    # rows have the norm of a random row, so positions do not drown the token embeddings
    random_rows = tiny_model().get_encoder().embeddings.position_embedding.weight.detach().norm(dim=1)
    assert torch.allclose(table.norm(dim=1).mean(), random_rows.mean(), rtol=0.1)
    with torch.no_grad():  # a trained table: loading must keep it, not re-initialise it
        model.get_encoder().embeddings.position_embedding.weight.add_(1.0)
    model.save_pretrained(tmp_path)
    reloaded = UMustForConditionalGeneration.from_pretrained(tmp_path)
    assert torch.equal(reloaded.get_encoder().embeddings.position_embedding.weight, table + 1.0)
    with pytest.raises(StrictDataclassClassValidationError, match="position_init"):
        UMustConfig.from_preset("tiny", position_init="rope")
