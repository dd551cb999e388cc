import numpy as np
import pytest

from umust_hf.vocabulary import (
    EOS_ID,
    MODALITY_ORDER,
    NUM_SPECIALS,
    PAD_ID,
    SEP_ID,
    Modality,
    UnifiedVocabulary,
)


def test_ranges_are_disjoint_and_cover_everything_after_specials():
    vocab = UnifiedVocabulary()
    owned = np.zeros(vocab.size, dtype=int)
    for modality in MODALITY_ORDER:
        for k in range(vocab.num_streams(modality)):
            r = vocab.id_range(modality, k)
            assert len(r) == vocab.codebook_size(modality)
            owned[r.start : r.stop] += 1
    assert (owned[:NUM_SPECIALS] == 0).all()
    assert (owned[NUM_SPECIALS:] == 1).all()
    assert vocab.size == NUM_SPECIALS + 224 + 2388 + 2 * 4 * 1024


@pytest.mark.parametrize("modality", list(Modality))
def test_bundle_round_trip(modality):
    vocab = UnifiedVocabulary(notation_size=10, midi_size=20, image_codebook_size=8, audio_codebook_size=6)
    rng = np.random.default_rng(0)
    if modality.is_multi_stream:
        local = rng.integers(0, vocab.codebook_size(modality), size=(7, 4))
    else:
        local = rng.integers(0, vocab.codebook_size(modality) + NUM_SPECIALS, size=7)
    bundle = vocab.to_bundle(local, modality)
    assert bundle.shape == (7, 4)
    np.testing.assert_array_equal(vocab.from_bundle(bundle, modality), local)
    for k in range(4):
        allowed = vocab.allowed_ids(modality, k)
        non_special = bundle[:, k][bundle[:, k] >= NUM_SPECIALS]
        assert allowed[non_special].all()
    if not modality.is_multi_stream:
        assert (bundle[:, 1:] == PAD_ID).all()


def test_masks_forbid_other_modalities_and_codebooks():
    vocab = UnifiedVocabulary()
    masks = vocab.logit_masks()
    assert masks.shape == (4, 4, vocab.size)
    image0 = masks[vocab.modality_index("image"), 0]
    assert image0[EOS_ID] and image0[SEP_ID] and not image0[PAD_ID]
    assert not image0[vocab.id_range("image", 1).start]
    assert not image0[vocab.id_range("audio", 0).start]
    audio2 = masks[vocab.modality_index(Modality.AUDIO), 2]
    assert audio2.sum() == 1024 and not audio2[EOS_ID]
    notation1 = masks[vocab.modality_index("lmx"), 1]
    assert notation1.sum() == 1 and notation1[PAD_ID]


def test_bad_input_gives_clear_errors():
    vocab = UnifiedVocabulary()
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        Modality.parse("video")
    with pytest.raises(ValueError, match="codebook 2 does not exist for midi"):
        vocab.id_range("midi", 2)
    with pytest.raises(ValueError, match=r"image codes must lie in \[0, 1024\)"):
        vocab.to_bundle(np.full((2, 4), 1024), "image")
    with pytest.raises(ValueError, match="are not audio codebook 0 ids"):
        vocab.from_bundle(vocab.to_bundle(np.zeros((2, 4), int), "image"), "audio")
    with pytest.raises(ValueError, match="positive int"):
        UnifiedVocabulary(num_codebooks=0)


def test_dict_round_trip():
    vocab = UnifiedVocabulary(midi_size=1234)
    assert UnifiedVocabulary.from_dict({**vocab.to_dict(), "extra": 1}) == vocab
