"""Run a trained U-MUST model over a test split and collect gold/prediction rows.

This is the ``umust evaluate --model DIR --data DIR`` path. The model translates each test
example for the task; where a metric needs a symbolic reading of a generated output, the
same model reads it back, as in the paper (an OMR model reads generated images for EMD; a
transcriber turns generated audio into notes for DTW-F1, here the model's AMT task in place
of Onsets and Frames). References come straight from the dataset: LMX, and notes from the
performance MIDI. Decoding is greedy, so a run is deterministic.

Rows use the predictions layout of :mod:`.predictions`, with in-memory audio
(``(samples, sample_rate)`` tuples) instead of file paths.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .predictions import PredictionRow

logger = logging.getLogger(__name__)

#: task -> dataset columns it reads (embedded-corpus names)
TASK_COLUMNS = {
    "omr": ("image", "lmx"),
    "amt": ("audio", "midi"),
    "m2a": ("midi", "audio"),
    "i2a": ("image", "midi", "audio"),
    "l2i": ("lmx",),
    "a2i": ("audio", "lmx"),
}


class ModelRunner:
    """One loaded model and processor, with a method per translation the evaluation needs."""

    def __init__(
        self, model_dir: str | Path, processor_dir: str | Path | None = None, *, max_new_tokens: int | None = None
    ):
        from ..translation import UMustTranslator

        if not Path(model_dir).is_dir():
            raise UserError(f"model directory not found: {model_dir}")
        self.translator = UMustTranslator.from_pretrained(model_dir, processor_dir=processor_dir)
        self.model, self.processor = self.translator.model, self.translator.processor
        self.max_new_tokens = max_new_tokens

    def _generate(self, target: str, **source: Any) -> Any:
        """Translate one source item: generated bundles ``(rows, T, K)`` (MIDI gives a row per segment)."""
        kwargs: dict[str, Any] = {"do_sample": False}
        if self.max_new_tokens is not None:
            kwargs["max_new_tokens"] = self.max_new_tokens
        return self.translator.generate(source, target, **kwargs)

    def read_notation(self, image: Any) -> str:
        """OMR: score image -> LMX string (raw model tokens, not repaired, as OLiMPiC scores them)."""
        return self.translator.lmx_of(self._generate("notation", images=[image]))[0]

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """AMT: mono audio -> notes ``(N, 3)`` (onset s, offset s, MIDI pitch)."""
        from ..data.audio_io import read_midi_notes
        from .notes import as_note_array

        generated = self._generate("midi", audio=[np.asarray(audio, dtype=np.float32)], sampling_rate=sample_rate)
        midi = self.processor.decode(generated, "midi")[0]
        try:
            notes = read_midi_notes(midi) if midi else []
        except UserError as error:  # an output without a single readable note
            logger.warning("transcription gave no readable MIDI (%s); counting it as no notes", error)
            notes = []
        return as_note_array(notes, name="transcription")

    def synthesize(self, **source: Any) -> tuple[np.ndarray, int]:
        """Source (``midi=`` or ``images=``) -> generated audio; segment rows are joined in order."""
        waves = self.processor.decode(self._generate("audio", **source), "audio")
        audio = np.concatenate(waves) if waves else np.zeros(0, np.float32)
        return audio, int(self.processor.feature_extractor.sampling_rate)

    def multi_stage(
        self, image: Any, *, synthesis: str = "soundfont", tempo_bpm: float = 100.0
    ) -> tuple[np.ndarray, int]:
        """Table 3's multi-stage baseline: this model's OMR -> MusicXML -> rule-based performance
        MIDI (the embedded corpus's performer, fixed tempo, no humanising) -> audio from the
        SoundFont synthesiser (``"soundfont"``) or this model's MIDI-to-audio task (``"model"``)."""
        from ..data.embedded.performance import perform, to_midi_bytes
        from .pipelines import MultiStageImageToAudio

        def performance(musicxml: str) -> bytes:
            notes = perform(musicxml.encode(), tempo_bpm=tempo_bpm, rng=np.random.default_rng(0), humanize=False)
            return to_midi_bytes(notes, program=0, tempo_bpm=tempo_bpm)

        def soundfont(midi: bytes) -> tuple[np.ndarray, int]:
            from ..constants import SAMPLE_RATE
            from ..data.audio_io import read_midi_notes
            from ..data.embedded.synthesis import synthesize

            notes = read_midi_notes(midi)
            if not notes:
                return np.zeros(0, np.float32), SAMPLE_RATE
            return synthesize(midi, max(note.end for note in notes)), SAMPLE_RATE

        def model(midi: bytes) -> tuple[np.ndarray, int]:
            return self.synthesize(midi=[midi])

        if synthesis not in ("soundfont", "model"):
            raise UserError(f"unknown multi-stage synthesis {synthesis!r}; expected soundfont or model")
        pipeline = MultiStageImageToAudio(
            omr=self.read_notation, perform=performance, synthesize=soundfont if synthesis == "soundfont" else model
        )
        output = pipeline(image)
        return output.audio, output.sample_rate

    def render(self, **source: Any) -> Any:
        """Source (``text=`` LMX or ``audio=``) -> generated score image (PIL)."""
        return self.processor.decode(self._generate("image", **source), "image")[0]


def _example_fields(task: str, example: dict[str, Any], runner: ModelRunner, multi_stage: str | None) -> dict[str, Any]:
    """Gold and predicted fields for one example (the layout of :mod:`.predictions`)."""
    from ..data.audio_io import decode_audio, read_midi_notes

    if task == "omr":
        return {"gold": example["lmx"], "pred": runner.read_notation(example["image"])}
    if task == "l2i":
        return {"gold": example["lmx"], "pred": runner.read_notation(runner.render(text=[example["lmx"]]))}
    if task == "a2i":
        audio, rate = decode_audio(example["audio"])
        return {"gold": example["lmx"], "pred": runner.read_notation(runner.render(audio=[audio], sampling_rate=rate))}
    gold_notes = read_midi_notes(example["midi"])
    if task == "amt":
        audio, rate = decode_audio(example["audio"])
        return {"gold_notes": gold_notes, "pred_notes": runner.transcribe(audio, rate)}
    if multi_stage is not None:
        generated, rate = runner.multi_stage(example["image"], synthesis=multi_stage)
    else:
        source = {"midi": [example["midi"]]} if task == "m2a" else {"images": [example["image"]]}
        generated, rate = runner.synthesize(**source)
    pred_notes = runner.transcribe(generated, rate) if generated.size else []
    return {
        "gold_notes": gold_notes,
        "pred_notes": pred_notes,
        "gold_audio": example["audio"],
        "pred_audio": (generated, rate),
    }


def predict_with_model(
    model_dir: str | Path,
    data_dir: str | Path,
    *,
    task: str,
    split: str = "test",
    limit: int | None = None,
    processor_dir: str | Path | None = None,
    max_new_tokens: int | None = None,
    runner: ModelRunner | None = None,
    multi_stage: str | None = None,
) -> list[PredictionRow]:
    """Generate predictions for ``task`` on ``data_dir[split]`` (an embedded-corpus DatasetDict);
    pass ``runner`` to reuse a loaded model across tasks. ``multi_stage`` (``"soundfont"`` or
    ``"model"``, i2a only) produces the audio with :meth:`ModelRunner.multi_stage` instead."""
    if multi_stage is not None and task != "i2a":
        raise UserError("the multi-stage baseline is an image-to-audio (i2a) method")
    from tqdm.auto import tqdm

    from .baselines import load_split

    examples = load_split(data_dir, split, limit, TASK_COLUMNS[task])
    runner = runner or ModelRunner(model_dir, processor_dir, max_new_tokens=max_new_tokens)
    rows = []
    for index, example in enumerate(tqdm(examples, desc=f"{task} generation", disable=len(examples) < 2)):
        fields = {"id": example.get("id", str(index)), **_example_fields(task, example, runner, multi_stage)}
        rows.append(PredictionRow(task, fields, f"{data_dir}[{split}][{index}]", Path(".")))
    return rows
