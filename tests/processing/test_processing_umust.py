"""UMustProcessor: every modality to bundles and back, AutoProcessor round trip, model integration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from umust_hf import (
    LMXTokenizer,
    MidiTokenizer,
    UMustConfig,
    UMustFeatureExtractor,
    UMustForConditionalGeneration,
    UMustImageProcessor,
    UMustProcessor,
)
from umust_hf.processing.notes import Note
from umust_hf.vocabulary import EOS_ID, MODALITY_ORDER, PAD_ID, SEP_ID, SOS_ID, Modality

LMX = (
    "measure key:fifths:1 time beats:3 beat-type:4 clef:G2 "
    "G4 voice:1 quarter stem:up A4 eighth beam:begin B4 eighth beam:end "
    "chord D5 quarter tied:start measure D5 half tied:stop rest quarter"
)


@pytest.fixture(scope="module")
def processor(cpu_processor) -> UMustProcessor:
    return cpu_processor


def system_image(width: int = 150) -> np.ndarray:
    """A white system with five staff lines 8 px apart (staff height 32 px) and a few note heads."""
    image = np.full((192, width), 255, np.uint8)
    for line in range(5):
        image[80 + 8 * line] = 0
    image[86:92, 40:48] = 0
    image[94:100, 90:98] = 0
    return image


def test_notation_round_trip(processor):
    inputs = processor(text=[LMX, "measure clef:G2 C4 quarter"], target_modality="audio")
    ids = inputs["input_ids"]
    vocabulary = processor.unified_vocabulary
    assert ids.shape[0] == 2 and (ids[..., 1:] == PAD_ID).all()
    assert inputs["source_modality"].tolist() == [MODALITY_ORDER.index(Modality.NOTATION)] * 2
    assert inputs["target_modality"].tolist() == [MODALITY_ORDER.index(Modality.AUDIO)] * 2
    first = ids[0, : int(inputs["attention_mask"][0].sum()), 0]
    assert first[-1] == EOS_ID
    notation = vocabulary.id_range("notation", 0)
    assert ((first[:-1] >= notation.start) & (first[:-1] < notation.stop)).all()
    assert int(inputs["attention_mask"][1].sum()) < int(inputs["attention_mask"][0].sum())
    # decoding a generate-style output (SOS first, PAD after EOS) gives MusicXML with the same music
    generated = torch.cat([torch.tensor([[[SOS_ID, PAD_ID, PAD_ID, PAD_ID]]] * 2), ids], dim=1)
    xml = processor.decode(generated, "notation")[0]
    assert "<score-partwise" in xml
    assert processor.tokenizer.from_musicxml(xml, strict=True) == LMX.split()


def test_musicxml_sources_match_lmx_text(processor):
    xml = processor.tokenizer.to_musicxml(LMX)
    from_xml = processor(musicxml=xml)["input_ids"]
    assert torch.equal(from_xml, processor(text=LMX)["input_ids"])


def test_midi_round_trip(processor):
    notes = [Note(0.5, 1.0, 60), Note(1.0, 2.25, 64, program=40), Note(30.0, 30.5, 67)]
    inputs = processor(midi=notes, target_modality="image")
    assert inputs["input_ids"].shape[0] == 2  # 30 s of music: two 20 s segments
    midi_bytes = processor.decode(inputs["input_ids"][:1], "midi")[0]
    decoded = processor.midi_tokenizer.midi_to_notes(midi_bytes)
    assert [(n.pitch, n.program, round(n.onset, 2), round(n.offset, 2)) for n in decoded] == [
        (60, 0, 0.5, 1.0), (64, 40, 1.0, 2.25)
    ]


def test_audio_to_bundles_and_back(processor):
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(22050).astype(np.float32), 0.1 * rng.standard_normal(4000).astype(np.float32)]
    inputs = processor(audio=clips, sampling_rate=22050)
    frames = inputs["attention_mask"].sum(dim=1).tolist()
    assert frames == [-(-44100 // 512), -(-8000 // 512)]  # resampled to 44.1 kHz, ceil(samples / hop)
    audio = processor.unified_vocabulary
    for k in range(4):
        id_range = audio.id_range("audio", k)
        column = inputs["input_ids"][0, :, k]
        assert ((column >= id_range.start) & (column < id_range.stop)).all()
    expected_codes = processor.audio_codec.encode(torch.from_numpy(processor.feature_extractor.resample(clips[1], 22050))[None])
    assert torch.equal(inputs["input_ids"][1, : frames[1]] - torch.tensor([audio.offset("audio", k) for k in range(4)]),
                       expected_codes[0])
    waves = processor.decode(inputs["input_ids"], "audio")
    assert [w.shape for w in waves] == [(frames[0] * 512,), (frames[1] * 512,)]
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in waves)


def test_images_become_sep_joined_system_bundles(processor):
    page = np.full((384, 150), 255, np.uint8)
    page[:192] = system_image(150)
    page[192:, :100] = system_image(100)
    inputs = processor(images=[page, system_image(150)], system_boxes=[[(0, 0, 150, 192), (0, 192, 100, 384)], None])
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    rows = 192 // 16
    columns = (-(-150 // 16), -(-100 // 16))
    assert mask.sum(dim=1).tolist() == [rows * sum(columns) + 1, rows * columns[0]]
    separator = ids[0, rows * columns[0]]
    assert separator.tolist() == [SEP_ID, PAD_ID, PAD_ID, PAD_ID]
    images = processor.decode(ids, "image")
    assert all(isinstance(image, Image.Image) and image.mode == "L" for image in images)
    assert images[0].size == (16 * columns[0], 2 * 192)  # two systems stacked
    assert images[1].size == (16 * columns[0], 192)


def test_an_image_bundle_is_cut_at_a_whole_token_column(processor):
    page = np.full((384, 150), 255, np.uint8)
    page[:192], page[192:, :100] = system_image(150), system_image(100)
    (bundle,) = processor.encode_images([page], system_boxes=[[(0, 0, 150, 192), (0, 192, 100, 384)]])
    rows, first = 192 // 16, 12 * 10  # 10 columns of 12 rows, SEP, then 7 columns
    assert len(bundle) == first + 1 + rows * 7
    assert processor.fit_image_bundle(bundle, len(bundle)) is bundle
    for limit, kept in [(len(bundle) - 1, first + 1 + rows * 6), (first + 1 + rows, first + 1 + rows),
                        (first + rows - 1, first), (first + 5, first), (rows + 3, rows)]:
        fitted = processor.fit_image_bundle(bundle, limit)
        assert len(fitted) == kept and np.array_equal(fitted, bundle[:kept]), limit
        assert fitted[-1, 0] != SEP_ID
    assert len(processor.fit_image_bundle(bundle, rows - 1)) == 0


def test_saves_and_loads_with_auto_processor(processor, tmp_path):
    from transformers import AutoModel, AutoProcessor

    torch.manual_seed(0)
    model = UMustForConditionalGeneration(UMustConfig.from_preset("tiny")).eval()
    model.save_pretrained(tmp_path)  # model and processor share one directory
    processor.save_pretrained(tmp_path)
    assert type(AutoModel.from_pretrained(tmp_path)) is UMustForConditionalGeneration
    assert (tmp_path / "image_codec" / "model.safetensors").exists()
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is UMustProcessor
    assert type(loaded.midi_tokenizer) is MidiTokenizer and type(loaded.tokenizer) is LMXTokenizer
    assert loaded.vocabulary == processor.vocabulary
    for name in ("image_codec", "audio_codec"):
        original, reloaded = getattr(processor, name).state_dict(), getattr(loaded, name).state_dict()
        assert all(torch.equal(original[key], reloaded[key]) for key in original)
    assert torch.equal(loaded(text=LMX)["input_ids"], processor(text=LMX)["input_ids"])
    image = [system_image()]
    assert torch.equal(loaded(images=image)["input_ids"], processor(images=image)["input_ids"])


def test_processor_output_drives_the_model(processor):
    torch.manual_seed(0)
    model = UMustForConditionalGeneration(UMustConfig.from_preset("tiny")).eval()
    assert model.config.vocabulary == processor.unified_vocabulary
    inputs = processor(text=[LMX, "measure clef:G2 C4 quarter"], target_modality="audio")
    generated = model.generate(**inputs, max_new_tokens=4, suppress_tokens=[EOS_ID])
    waves = processor.decode(generated, "audio")
    assert [w.shape for w in waves] == [(4 * 512,)] * 2
    xml = processor.decode(model.generate(**{**inputs, "target_modality": torch.tensor([0, 0])}, max_new_tokens=6),
                           "notation")
    assert all("<score-partwise" in x for x in xml)


def test_bad_calls_raise_clear_errors(processor):
    with pytest.raises(ValueError, match="exactly one of"):
        processor(text=LMX, midi=[Note(0, 1, 60)])
    with pytest.raises(ValueError, match="exactly one of"):
        processor()
    bare = UMustProcessor(UMustImageProcessor(), UMustFeatureExtractor(), LMXTokenizer(), MidiTokenizer())
    with pytest.raises(ValueError, match="no audio_codec"):
        bare(audio=np.zeros(1000, np.float32), sampling_rate=44100)
    with pytest.raises(ValueError, match="target_modality has 1 entries for 2"):
        processor(text=[LMX, LMX], target_modality=["audio"])
    with pytest.raises(ValueError, match=r"bundles must have shape \(B, T, 4\)"):
        processor.decode(torch.zeros(2, 3, 5, dtype=torch.long), "audio")


def test_model_embeddings_initialise_from_the_processor_codecs(processor):
    torch.manual_seed(0)
    model = UMustForConditionalGeneration(UMustConfig.from_preset("tiny")).eval()
    image_codebooks = processor.image_codec.get_codebooks()  # (4, 1024, latent)
    audio_codebooks = processor.audio_codec.get_codebook_embeddings()
    model.init_codec_embeddings(image_codebooks=image_codebooks, audio_codebooks=audio_codebooks)
    vocabulary = model.config.vocabulary
    weight = model.get_input_embeddings().weight
    for name, codebooks in (("image", image_codebooks), ("audio", audio_codebooks)):
        rows = vocabulary.id_range(name, 3)
        embedded = weight[rows.start : rows.stop]
        if codebooks.shape[-1] <= model.config.d_model:  # a semi-orthogonal map keeps the geometry
            torch.testing.assert_close(embedded @ embedded.T, codebooks[3] @ codebooks[3].T, atol=1e-3, rtol=1e-3)
        else:
            assert embedded.shape == (1024, model.config.d_model) and not torch.equal(embedded, torch.zeros_like(embedded))
