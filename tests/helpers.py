"""Small helpers shared by test modules (not tests themselves)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def quiet_repairs() -> Iterator[None]:
    """Silence the expected repair warnings without leaking a log level into other tests."""
    logger = logging.getLogger("umust_hf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def staff_image(width: int, seed: int) -> np.ndarray:
    """A white ``(192, width)`` system with five staff lines and a few random dark strokes."""
    image = np.full((192, width), 255, np.uint8)
    for line in range(5):
        image[80 + 8 * line] = 0
    image[70:130, np.random.default_rng(seed).integers(0, width, 6)] = 0
    return image


def midi_of(seconds: float, pitch: int, every: float = 0.5) -> bytes:
    """MIDI bytes of notes every ``every`` seconds for ``seconds`` (pitches cycling upwards from ``pitch``)."""
    from umust_hf import MidiTokenizer
    from umust_hf.processing.notes import Note

    onsets = np.arange(0, seconds, every)
    return MidiTokenizer().notes_to_midi([Note(t, t + 0.4, pitch + i % 5) for i, t in enumerate(onsets)])


# ---------------------------------------------------------------- paths
#: The repository root (the folder holding ``src/`` and ``tests/``).
REPO = Path(__file__).resolve().parents[1]
#: The layout-exact corpus fixtures (tests/fixtures/<corpus>/), wherever the test module lives.
FIXTURES = Path(__file__).parent / "fixtures"
#: The YTSV metadata fixture.
YTSV_METADATA = FIXTURES / "ytsv" / "metadata.csv"


# ---------------------------------------------------------------- modalities
def _modality_indices() -> tuple[int, int, int, int]:
    from umust_hf.vocabulary import MODALITY_ORDER, Modality

    return tuple(MODALITY_ORDER.index(m) for m in (Modality.NOTATION, Modality.MIDI, Modality.IMAGE, Modality.AUDIO))


#: Indices of the modalities in ``MODALITY_ORDER`` (the ``source_modality`` / ``target_modality`` values).
NOTATION, MIDI, IMAGE, AUDIO = _modality_indices()


# ---------------------------------------------------------------- translator
def tiny_model(seed: int = 0, **overrides):
    """A seeded, randomly initialised ``tiny`` ``UMustForConditionalGeneration`` in eval mode."""
    import torch

    from umust_hf import UMustConfig, UMustForConditionalGeneration

    torch.manual_seed(seed)
    return UMustForConditionalGeneration(UMustConfig.from_preset("tiny", **overrides)).eval()


def translator_batch(config, seed: int = 0) -> dict:
    """Image source (row 1 padded) -> audio target (row 0) and notation target (row 1)."""
    import torch

    from umust_hf.vocabulary import PAD_ID

    vocabulary = config.vocabulary
    rng = torch.Generator().manual_seed(seed)
    source = torch.stack([
        torch.from_numpy(vocabulary.to_bundle(torch.randint(0, 1024, (9, 4), generator=rng).numpy(), "image"))
        for _ in range(2)
    ])
    attention_mask = torch.ones(2, 9, dtype=torch.long)
    source[1, 6:] = PAD_ID
    attention_mask[1, 6:] = 0
    audio = torch.from_numpy(vocabulary.to_bundle(torch.randint(0, 1024, (5, 4), generator=rng).numpy(), "audio"))
    notation = torch.from_numpy(vocabulary.to_bundle(torch.randint(4, 228, (5,), generator=rng).numpy(), "notation"))
    labels = torch.stack([audio, notation])
    labels[1, 4] = -100  # padding of the shorter target
    return {
        "input_ids": source, "attention_mask": attention_mask, "labels": labels,
        "source_modality": torch.tensor([IMAGE, IMAGE]), "target_modality": torch.tensor([AUDIO, NOTATION]),
    }


def audio_sources(config, rows: int = 3, length: int = 8, seed: int = 0) -> dict:
    """Audio sources for generation, the last row right-padded."""
    import torch

    from umust_hf.vocabulary import PAD_ID

    rng = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 1024, (rows, length, 4), generator=rng)
    input_ids = torch.stack([torch.from_numpy(config.vocabulary.to_bundle(c.numpy(), "audio")) for c in codes])
    attention_mask = torch.ones(rows, length, dtype=torch.long)
    input_ids[-1, length // 2 :] = PAD_ID
    attention_mask[-1, length // 2 :] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "source_modality": torch.full((rows,), AUDIO)}


def assert_valid_bundles(model, sequences, target) -> None:
    """Every generated id lies in its (target, codebook) range or is EOS/PAD where allowed."""
    from umust_hf.vocabulary import EOS_ID, MODALITY_ORDER, PAD_ID, SOS_ID

    vocabulary = model.config.vocabulary
    assert sequences[:, 0].tolist() == [[SOS_ID, PAD_ID, PAD_ID, PAD_ID]] * len(sequences)
    for row, modality_index in enumerate(target.tolist()):
        modality = MODALITY_ORDER[modality_index].value
        for k in range(4):
            column = sequences[row, 1:, k]
            if k >= vocabulary.num_streams(modality):
                assert (column == PAD_ID).all()
                continue
            id_range = vocabulary.id_range(modality, k)
            inside = (column >= id_range.start) & (column < id_range.stop)
            assert (inside | (column == PAD_ID) | ((column == EOS_ID) & (k == 0))).all()


def random_tokens(vocab, modality, length, rng):
    """``length`` random frames of ``modality`` as a bundle (``rng``: a numpy Generator)."""
    if vocab.num_streams(modality) > 1:
        return vocab.to_bundle(rng.integers(0, vocab.codebook_size(modality), (length, 4)), modality)
    return vocab.to_bundle(rng.integers(4, 4 + vocab.codebook_size(modality), length), modality)


def task_dataset(vocab, per_task=6, seed=0):
    """A ``datasets.Dataset`` of random rows for every task (``per_task`` rows each)."""
    from datasets import Dataset

    from umust_hf.data.tasks import TASKS

    rng = np.random.default_rng(seed)
    rows = {"input_ids": [], "labels": [], "source_modality": [], "target_modality": [], "task": []}
    for task in TASKS.values():
        for _ in range(per_task):
            rows["input_ids"].append(random_tokens(vocab, task.source, int(rng.integers(3, 9)), rng).tolist())
            rows["labels"].append(random_tokens(vocab, task.target, int(rng.integers(2, 7)), rng).tolist())
            rows["source_modality"].append(task.source.value)
            rows["target_modality"].append(task.target.value)
            rows["task"].append(task.name)
    return Dataset.from_dict(rows)


# ---------------------------------------------------------------- image codec
def notehead_system(
    height: int | None = None,
    width: int = 200,
    spacing: int = 8,
    tops: tuple[int, ...] = (40, 120),
    thickness: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Synthetic system: five-line staves (`spacing` px apart) with random filled noteheads, uint8 (H, W).

    ``height`` defaults to ``SYSTEM_HEIGHT_PX``.
    """
    if height is None:
        from umust_hf.constants import SYSTEM_HEIGHT_PX

        height = SYSTEM_HEIGHT_PX
    rng = np.random.default_rng(seed)
    image = np.full((height, width), 255, np.uint8)
    for top in tops:
        for line in range(5):
            row = top + line * spacing
            image[row : row + thickness, 4 : width - 4] = 0
        for x in range(12, width - 16, max(12, 2 * spacing)):
            y = top + int(rng.integers(-2, 9)) * spacing // 2
            yy, xx = np.mgrid[: height, : width]
            blob = ((yy - y) / (spacing * 0.55)) ** 2 + ((xx - x) / (spacing * 0.7)) ** 2 <= 1.0
            image[blob] = 0
            image[max(0, y - 3 * spacing) : y, x + spacing // 2 : x + spacing // 2 + 1] = 0  # stem
    return image


def pixels(image: np.ndarray):
    """uint8 `(H, W)` -> `(1, 1, H, W)` float in [-1, 1]."""
    import torch

    return torch.from_numpy(image / 255.0 * 2.0 - 1.0).float()[None, None]


# ---------------------------------------------------------------- audio codec
#: The audio codec's sampling rate and hop.
CODEC_SR = 44100
CODEC_HOP = 512


def tiny_audio_codec_config(**overrides):
    """Same hop, rate and token layout as the paper codec, a few thousand parameters wide."""
    from umust_hf import UMustAudioCodecConfig

    return UMustAudioCodecConfig(**{"encoder_dim": 4, "decoder_dim": 32, **overrides})


def tiny_audio_codec(seed: int = 0, **overrides):
    """A seeded ``UMustAudioCodec`` of :func:`tiny_audio_codec_config` in eval mode."""
    import torch

    from umust_hf import UMustAudioCodec

    torch.manual_seed(seed)
    return UMustAudioCodec(tiny_audio_codec_config(**overrides)).eval()


def noisy_tone(batch: int = 2, samples: int = 3000, seed: int = 0):
    """``(batch, 1, samples)`` float: a 440 Hz tone at 44.1 kHz plus seeded noise."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / CODEC_SR
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    return (tone + 0.05 * torch.randn(batch, 1, samples, generator=generator)).float()


# ---------------------------------------------------------------- evaluation tables
def table_row(text: str, table: int, method: str) -> list[str]:
    """The cells of ``method``'s row in ``Table <table>`` of the evaluation printout."""
    block = text.split(f"Table {table}:")[1].split("\n\n")[0]
    line = next(line for line in block.splitlines() if line.startswith(method + " "))
    return [cell.strip() for cell in line.split("|")[1:]]
