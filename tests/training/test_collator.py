import numpy as np
import pytest
import torch

from umust_hf.data.collator import IGNORE_INDEX, TASK_ORDER, BundleCollator
from umust_hf.vocabulary import EOS_ID, PAD_ID, SOS_ID, UnifiedVocabulary


def _examples():
    vocab = UnifiedVocabulary()
    rng = np.random.default_rng(0)
    image = vocab.to_bundle(rng.integers(0, 1024, (5, 4)), "image")
    lmx = vocab.to_bundle(rng.integers(4, 228, 3), "notation")
    audio = vocab.to_bundle(rng.integers(0, 1024, (6, 4)), "audio")
    midi = vocab.to_bundle(rng.integers(4, 100, 2), "midi")
    return [
        {"input_ids": image, "labels": lmx, "source_modality": "image", "target_modality": "notation", "task": "omr"},
        {"input_ids": midi, "labels": audio, "source_modality": "midi", "target_modality": "audio", "task": "m2a"},
    ], (image, lmx, audio, midi)


def test_collator_pads_shifts_and_masks():
    examples, (image, lmx, audio, midi) = _examples()
    batch = BundleCollator()(examples)
    assert batch["input_ids"].shape == (2, 5, 4)
    assert batch["decoder_input_ids"].shape == batch["labels"].shape == (2, 7, 4)
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 0, 0, 0]]
    assert batch["decoder_attention_mask"][0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    # decoder input = SOS bundle + target
    assert batch["decoder_input_ids"][1, 0].tolist() == [SOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert torch.equal(batch["decoder_input_ids"][1, 1:7], torch.from_numpy(audio))
    # labels = target + EOS; the notation row trains slot 0 only
    labels0 = batch["labels"][0]
    assert labels0[:3, 0].tolist() == lmx[:, 0].tolist()
    assert labels0[3].tolist() == [EOS_ID, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    assert (labels0[:, 1:] == IGNORE_INDEX).all() and (labels0[4:] == IGNORE_INDEX).all()
    assert torch.equal(batch["labels"][1, :6], torch.from_numpy(audio))
    vocab = UnifiedVocabulary()
    assert batch["source_modality"].tolist() == [vocab.modality_index("image"), vocab.modality_index("midi")]
    assert batch["task_ids"].tolist() == [TASK_ORDER.index("omr"), TASK_ORDER.index("m2a")]


def test_a_target_that_ends_with_eos_is_not_given_a_second_one():
    examples, (_, lmx, _, _) = _examples()
    with_eos = np.concatenate([lmx, [[EOS_ID, PAD_ID, PAD_ID, PAD_ID]]])
    plain, ended = BundleCollator()([examples[0]]), BundleCollator()([{**examples[0], "labels": with_eos}])
    for key in ("labels", "decoder_input_ids", "decoder_attention_mask"):
        assert torch.equal(plain[key], ended[key]), key


def test_collator_pad_multiple_and_errors():
    examples, _ = _examples()
    batch = BundleCollator(pad_to_multiple_of=8)(examples)
    assert batch["input_ids"].shape[1] == 8 and batch["labels"].shape[1] == 8
    with pytest.raises(ValueError, match=r"labels must be an \(L, 4\) bundle"):
        BundleCollator()([{**examples[0], "labels": np.zeros(3, int)}])
    with pytest.raises(ValueError, match="empty batch"):
        BundleCollator()([])
