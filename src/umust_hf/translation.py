"""Translate files with a trained U-MUST model: the Python API behind ``umust omr`` and friends.

    from umust_hf.translation import UMustTranslator
    translator = UMustTranslator.from_pretrained("umust-i2a")
    musicxml = translator.translate(Image.open("system.png"), task="omr")[0]

A model directory holds the model (``save_pretrained``) and its processor (tokenizers and
codecs, ``UMustProcessor.save_pretrained``) side by side, as ``umust demo`` writes them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from PIL import Image

from .data.tasks import Task, get_task
from .errors import UserError
from .io_utils import atomic_write, atomic_write_bytes, atomic_write_text
from .modeling.modeling_umust import UMustForConditionalGeneration
from .processing.processing_umust import UMustProcessor
from .vocabulary import Modality

logger = logging.getLogger(__name__)

_AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
_MIDI_SUFFIXES = {".mid", ".midi"}
_NOTATION_SUFFIXES = {".musicxml", ".xml", ".mxl", ".lmx", ".txt"}
_SUFFIXES = {
    Modality.AUDIO: _AUDIO_SUFFIXES, Modality.IMAGE: _IMAGE_SUFFIXES,
    Modality.MIDI: _MIDI_SUFFIXES, Modality.NOTATION: _NOTATION_SUFFIXES,
}

#: How a target is decoded when the caller does not say (no ``do_sample``): the official U-MusT
#: engine samples audio (a plain multinomial draw at temperature 1 with a fixed seed) and reads
#: notation greedily; greedy audio from a language model of codec tokens falls into a loop (one
#: buzz for every source). Images and MIDI stay greedy.
SAMPLED_TARGETS = frozenset({Modality.AUDIO})
DEFAULT_SAMPLING_SEED = 0


#: Generation arguments that only matter when sampling (dropped for greedy decoding).
SAMPLING_KEYS = ("sampling_seed", "temperature", "top_k", "top_p")


def decoding_for(target: Modality | str, generate_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``generate_kwargs`` completed with the target's default decoding (see :data:`SAMPLED_TARGETS`):
    sampling gets per-row seeded draws (``sampling_seed``), so a run is reproducible; greedy decoding
    drops the sampling options (a command passes them for whichever decoding its target gets)."""
    kwargs = dict(generate_kwargs)
    kwargs.setdefault("do_sample", Modality.parse(target) in SAMPLED_TARGETS)
    if kwargs["do_sample"]:
        kwargs.setdefault("sampling_seed", DEFAULT_SAMPLING_SEED)
    else:
        for key in SAMPLING_KEYS:
            kwargs.pop(key, None)
    return kwargs


def _check_suffix(path: Path, modality: Modality, role: str) -> None:
    if path.suffix.lower() not in _SUFFIXES[modality]:
        expected = ", ".join(sorted(_SUFFIXES[modality]))
        raise UserError(f"{role} {path} should be a {modality.value} file ({expected})")


def read_source(path: str | os.PathLike, modality: Modality | str) -> dict[str, Any]:
    """Read a file as processor keyword arguments for ``modality`` (clear errors for bad files)."""
    path, modality = Path(path), Modality.parse(modality)
    if not path.is_file():
        raise UserError(f"input {path} does not exist")
    _check_suffix(path, modality, "input")
    try:
        if modality is Modality.IMAGE:
            with Image.open(path) as image:
                return {"images": image.copy()}
        if modality is Modality.AUDIO:
            audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            return {"audio": audio.mean(axis=1), "sampling_rate": rate}
        if modality is Modality.MIDI:
            return {"midi": path.read_bytes()}
        if path.suffix.lower() in {".lmx", ".txt"}:
            return {"text": path.read_text(encoding="utf-8").strip()}
        return {"musicxml": str(path)}
    except UserError:
        raise
    except Exception as error:  # unreadable file: say which and why
        raise UserError(f"cannot read {modality.value} input {path}: {error}") from None


def write_output(value: Any, path: str | os.PathLike, modality: Modality | str, *, sampling_rate: int = 44100,
                 lmx: str | None = None) -> list[Path]:
    """Write a decoded output atomically; OMR output also gets its LMX beside it (``.lmx``)."""
    path, modality = Path(path), Modality.parse(modality)
    _check_suffix(path, modality, "output")
    written = []
    if modality is Modality.IMAGE:
        written.append(atomic_write(path, lambda temporary: value.save(temporary, format=_pil_format(path))))
    elif modality is Modality.AUDIO:
        audio = np.asarray(value, dtype=np.float32)
        written.append(atomic_write(path, lambda temporary: soundfile.write(
            str(temporary), audio, sampling_rate, format=path.suffix.lstrip(".").upper())))
    elif modality is Modality.MIDI:
        written.append(atomic_write_bytes(path, value))
    else:
        written.append(atomic_write_text(path, value))
        if lmx is not None:
            written.append(atomic_write_text(path.with_suffix(".lmx"), lmx + "\n"))
    return written


def _pil_format(path: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(path.suffix.lower(),
                                                                               path.suffix.lstrip(".").upper())


@dataclass
class UMustTranslator:
    """A trained model and its processor, with one method per translation task."""

    model: Any
    processor: Any
    trained_tasks: list[str] | None = None  # from the directory's recipe.json, when there is one
    last_bundles: Any = field(default=None, init=False, repr=False)

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, device: str | None = None,
                        processor_dir: str | os.PathLike | None = None) -> UMustTranslator:
        """Load the model in ``model_dir`` and the processor saved beside it (or in ``processor_dir``)."""
        model_dir = Path(model_dir)
        processor_dir = Path(processor_dir) if processor_dir is not None else model_dir
        if not (model_dir / "config.json").is_file():
            raise UserError(f"{model_dir} is not a saved U-MUST model (no config.json); train one with `umust demo` "
                            "or `umust train`")
        try:
            model = UMustForConditionalGeneration.from_pretrained(model_dir)
        except (OSError, ValueError) as error:
            raise UserError(f"{model_dir} does not hold a loadable U-MUST model: {error}") from None
        try:
            processor = UMustProcessor.from_pretrained(processor_dir)
        except (OSError, ValueError, TypeError) as error:
            raise UserError(f"{processor_dir} has no usable UMustProcessor (tokenizers and codecs): {error}; "
                            "pass the directory it was saved in") from None
        if device:
            model.to(device)
        model.eval()
        return cls(model, processor, trained_tasks=_trained_tasks(model_dir))

    def translate(self, source: dict[str, Any] | Any, *, task: str | Task, **generate_kwargs: Any) -> list[Any]:
        """Encode ``source`` (processor keyword arguments, or a value of the task's source modality),
        generate the target and decode it: MusicXML text, MIDI bytes, float32 audio or a PIL image."""
        task = get_task(task) if isinstance(task, str) else task
        if self.trained_tasks and task.name not in self.trained_tasks:
            logger.warning("this model was trained for %s, not %s: expect poor output",
                           ", ".join(self.trained_tasks), task.name)
        if not isinstance(source, dict):
            key = {Modality.IMAGE: "images", Modality.AUDIO: "audio", Modality.MIDI: "midi",
                   Modality.NOTATION: "text"}[task.source]
            source = {key: source}
        bundles = self.generate(source, task.target, **generate_kwargs)
        if task.source is Modality.AUDIO and task.target is Modality.MIDI:  # no note outlasts its recording
            return [self.processor.decode(row, "midi", end_seconds=seconds)[0]
                    for row, seconds in zip(bundles, _clip_seconds(source))]
        return self.processor.decode(bundles, task.target)

    def generate(self, source: dict[str, Any], target: Modality | str, **generate_kwargs: Any) -> Any:
        """Encode ``source`` (processor keyword arguments) and generate ``(rows, 1 + T, K)`` target bundles
        (decoded as :func:`decoding_for` says unless ``generate_kwargs`` holds ``do_sample``)."""
        target = Modality.parse(target)
        try:
            inputs = self.processor(**source, target_modality=target.value)
        except ValueError as error:  # e.g. an unreadable or empty source
            raise UserError(f"cannot encode the {', '.join(source)} input: {error}") from None
        self.last_bundles = self.generate_from(inputs, target, ", ".join(source), **generate_kwargs)
        return self.last_bundles

    def generate_from(self, inputs: dict[str, Any], target: Modality, what: str, **generate_kwargs: Any) -> Any:
        """Generate from encoded ``inputs`` (``what``: the source, for the error message)."""
        inputs = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        try:
            with torch.no_grad():
                return self.model.generate(**inputs, **decoding_for(target, generate_kwargs))
        except ValueError as error:  # e.g. a source longer than the model's position table
            raise UserError(f"translating {what} into {target.value} failed: {error}") from None

    def lmx_of(self, bundles: Any) -> list[str]:
        """LMX text of generated notation bundles (the OMR output before delinearisation)."""
        vocabulary = self.processor.unified_vocabulary
        texts = []
        for row in np.asarray(bundles.detach().cpu() if hasattr(bundles, "detach") else bundles):
            ids = vocabulary.from_bundle(row, Modality.NOTATION)
            texts.append(" ".join(self.processor.tokenizer.as_tokens(ids.tolist(), strict=False)))
        return texts

    def translate_file(self, task: str | Task, source_path: str | os.PathLike, output_path: str | os.PathLike,
                       **generate_kwargs: Any) -> list[Path]:
        """Read ``source_path``, translate it and write ``output_path`` (suffix picks the format)."""
        task = get_task(task) if isinstance(task, str) else task
        _check_suffix(Path(output_path), task.target, "output")
        outputs = self.translate(read_source(source_path, task.source), task=task, **generate_kwargs)
        lmx = self.lmx_of(self.last_bundles)[0] if task.target is Modality.NOTATION else None
        rate = getattr(self.processor.feature_extractor, "sampling_rate", 44100)
        return write_output(outputs[0], output_path, task.target, sampling_rate=rate, lmx=lmx)


def _clip_seconds(source: dict[str, Any]) -> list[float | None]:
    """Length in seconds of each audio clip of processor keyword arguments (``audio``, ``sampling_rate``)."""
    clips = source["audio"]
    clips = [clips] if isinstance(clips, np.ndarray) and clips.ndim == 1 else list(clips)
    rates = source.get("sampling_rate")
    rates = [rates] * len(clips) if rates is None or np.isscalar(rates) else list(rates)
    return [np.size(clip) / rate if rate else None for clip, rate in zip(clips, rates)]


def _trained_tasks(model_dir: Path) -> list[str] | None:
    recipe = model_dir / "recipe.json"
    if not recipe.is_file():
        return None
    return [item["task"] for item in json.loads(recipe.read_text())["curriculum"]]
