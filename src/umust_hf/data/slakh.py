"""Slakh2100 (Manilow et al., WASPAA 2019): 2,100 multi-instrument tracks rendered from Lakh MIDI.

Layout (``ethman/slakh-utils`` README and its ``redux`` conversion; the Zenodo archive
``slakh2100_flac_redux.tar.gz``)::

    slakh2100_flac_redux/
      train/ validation/ test/ [omitted/]     (redux moves duplicated songs to omitted/)
        TrackNNNNN/
          mix.flac            the mixture (44.1 kHz)
          all_src.mid         every stem's MIDI in one file
          metadata.yaml       UUID, lmd_midi_dir, midi_dir, audio_dir, normalized, overall_gain,
                              stems: {SNN: {program_num, is_drum, inst_class, midi_program_name,
                              plugin_name, audio_rendered, midi_saved, integrated_loudness}}
          MIDI/SNN.mid        one MIDI per stem (when midi_saved)
          stems/SNN.flac      one audio file per stem (when audio_rendered)

The original (non-redux) ``slakh2100_flac`` and ``.wav`` renderings share the per-track layout
and are read as well. Paper Table 1 uses MIDI + audio (the mixture and ``all_src.mid``);
the stems are listed per row for multi-track work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import yaml

from ._layout import (
    audio_feature,
    build_dataset_dict,
    check_audio,
    check_midi_bytes,
    descend_to,
    raise_if_missing,
    require_root,
    skip_corrupt,
)

CORPUS = "Slakh2100"
LAYOUT = "<root>/{train,validation,test}/TrackNNNNN/{mix.flac, all_src.mid, metadata.yaml, MIDI/SNN.mid, stems/SNN.flac}"
SPLITS = ("train", "validation", "test")
AUDIO_EXTENSIONS = (".flac", ".wav")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "uuid": datasets.Value("string"),
        "audio": audio_feature(),
        "midi": datasets.Value("binary"),
        "stems": datasets.List(
            {
                "stem": datasets.Value("string"),
                "program_num": datasets.Value("int32"),
                "is_drum": datasets.Value("bool"),
                "inst_class": datasets.Value("string"),
                "midi_program_name": datasets.Value("string"),
                "plugin_name": datasets.Value("string"),
                "audio_rendered": datasets.Value("bool"),
                "midi_saved": datasets.Value("bool"),
                "audio_path": datasets.Value("string"),
                "midi": datasets.Value("binary"),
            }
        ),
    }
)


def _mix(track: Path) -> Path:
    """``mix.flac`` (or ``mix.wav``) of a track folder; the ``.flac`` path if neither exists."""
    for ext in AUDIO_EXTENSIONS:
        if (track / f"mix{ext}").is_file():
            return track / f"mix{ext}"
    return track / "mix.flac"


def _stem_rows(track: Path, stems: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(stems):
        info = stems[name] or {}
        midi_path = track / "MIDI" / f"{name}.mid"
        midi = None
        if midi_path.is_file():
            midi = midi_path.read_bytes()
            if reason := check_midi_bytes(midi):
                skip_corrupt(midi_path, reason)
                midi = None
        audio_path = next((track / "stems" / f"{name}{e}" for e in AUDIO_EXTENSIONS if (track / "stems" / f"{name}{e}").is_file()), None)
        rows.append(
            {
                "stem": name,
                "program_num": int(info.get("program_num") or 0),
                "is_drum": bool(info.get("is_drum", False)),
                "inst_class": str(info.get("inst_class", "")),
                "midi_program_name": str(info.get("midi_program_name", "")),
                "plugin_name": str(info.get("plugin_name", "")),
                "audio_rendered": bool(info.get("audio_rendered", audio_path is not None)),
                "midi_saved": bool(info.get("midi_saved", midi is not None)),
                "audio_path": str(audio_path) if audio_path else None,
                "midi": midi,
            }
        )
    return rows


def _generate(items: list[str]) -> Iterator[dict[str, Any]]:
    for track_dir in items:
        track = Path(track_dir)
        meta_path = track / "metadata.yaml"
        try:
            meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or not isinstance(meta.get("stems", {}), dict):
                raise ValueError("not a Slakh metadata mapping with a 'stems' mapping")
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
            skip_corrupt(meta_path, error)
            continue
        mix = _mix(track)
        if reason := check_audio(mix):
            skip_corrupt(mix, reason)
            continue
        midi_path = track / "all_src.mid"
        try:
            midi = midi_path.read_bytes()
        except OSError as error:
            skip_corrupt(midi_path, error)
            continue
        if reason := check_midi_bytes(midi):
            skip_corrupt(midi_path, reason)
            continue
        try:
            stems = _stem_rows(track, meta.get("stems") or {})
        except (OSError, ValueError, TypeError, AttributeError) as error:
            skip_corrupt(meta_path, f"bad stem entry ({error})")
            continue
        yield {
            "id": track.name,
            "uuid": str(meta.get("UUID", "")),
            "audio": {"path": str(mix), "bytes": None},
            "midi": midi,
            "stems": stems,
        }


def load_slakh(
    root: str | os.PathLike[str],
    *,
    include_omitted: bool = False,
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load Slakh2100 (redux) as a ``DatasetDict`` of ``train``/``validation``/``test``
    (plus ``omitted`` with ``include_omitted=True``).

    Columns: ``id`` (``TrackNNNNN``), ``uuid``, ``audio`` (mixture path, not decoded), ``midi``
    (``all_src.mid`` bytes), ``stems`` (per stem: the metadata fields, ``audio_path`` and
    ``midi`` bytes, ``None`` where not rendered/saved).
    """
    path = descend_to(require_root(root, CORPUS, LAYOUT), "slakh2100*", lambda p: (p / "train").is_dir())
    names = (*SPLITS, "omitted") if include_omitted else SPLITS
    raise_if_missing((path / name for name in names), CORPUS, f"split folders (layout: {LAYOUT}) are")
    splits: dict[str, list[str]] = {}
    for name in names:
        tracks = sorted(p for p in (path / name).iterdir() if p.is_dir() and p.name.startswith("Track"))
        raise_if_missing(
            (p for track in tracks for p in (track / "metadata.yaml", _mix(track), track / "all_src.mid")),
            CORPUS,
            f"track files in {name}/ are",
        )
        splits[name] = [str(t) for t in tracks]

    def files_of(track_dir: str) -> list[Path]:
        track = Path(track_dir)
        return [track / "metadata.yaml", _mix(track), track / "all_src.mid", *sorted((track / "MIDI").glob("*.mid"))]

    return build_dataset_dict(
        corpus=CORPUS,
        splits=splits,
        generate=_generate,
        features=FEATURES,
        files_of=files_of,
        streaming=streaming,
        cache_dir=cache_dir,
    )
