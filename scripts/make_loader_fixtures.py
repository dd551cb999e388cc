#!/usr/bin/env python
"""Write the tiny, layout-exact corpus fixtures under ``tests/fixtures/<corpus>/``.

Each fixture reproduces a public corpus's published folder layout, file names, split and
metadata files (see the docstrings of ``umust_hf.data.<corpus>``) with a handful of samples
made here from three short hand-written piano excerpts in Humdrum **kern:

* kern -> MusicXML (music21, the two spines merged into one two-staff part as GrandStaff-LMX
  does) -> LMX (``linearized-musicxml``);
* kern -> system image (Verovio SVG -> cairosvg PNG; JPEG where the corpus uses JPEG);
* MusicXML -> MIDI (music21) -> audio (``midirenderer`` with pretty_midi's TimGM6mb.sf2),
  cut to about one second and resampled to the corpus's rate.

Usage: ``python scripts/make_loader_fixtures.py [--out tests/fixtures] [--corpus NAME ...]``.
Deterministic: the same inputs give the same files. Total size stays well under 5 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: Three short two-staff excerpts (left spine = bass staff, right spine = treble staff).
EXCERPTS: dict[str, str] = {
    "c_major": """**kern\t**kern
*clefF4\t*clefG2
*k[]\t*k[]
*M4/4\t*M4/4
=1\t=1
4C\t4c
4E\t4e
4G\t4g
4c\t4cc
=2\t=2
2G\t2g
2C\t2c
==\t==
*-\t*-
""",
    "g_major": """**kern\t**kern
*clefF4\t*clefG2
*k[f#]\t*k[f#]
*M3/4\t*M3/4
=1\t=1
2GG\t4b
.\t8a
.\t8g
4D\t4d
=2\t=2
2.G\t2.g
==\t==
*-\t*-
""",
    "d_minor": """**kern\t**kern
*clefF4\t*clefG2
*k[b-]\t*k[b-]
*M2/4\t*M2/4
=1\t=1
4D\t8d
.\t8f
4A\t8a
.\t8dd
=2\t=2
4AA\t4c#
4D\t4d
==\t==
*-\t*-
""",
}

#: The first and second staves as separate Slakh stems: (stem, GM program, inst_class, name).
SLAKH_STEMS = (("S00", 32, "Bass", "Acoustic Bass"), ("S01", 0, "Piano", "Acoustic Grand Piano"))


def _write(path: Path, data: bytes | str) -> None:
    """Atomic write: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    os.replace(tmp, path)


def _wav_bytes(audio: np.ndarray, rate: int, fmt: str = "WAV") -> bytes:
    """16-bit PCM WAV (or FLAC) bytes of ``audio`` (shape ``(n,)`` or ``(n, channels)``)."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


@dataclass
class Excerpt:
    """One excerpt in every modality the fixtures need."""

    name: str
    kern: str

    def score(self):
        """A fresh music21 score with both staves in one ``PartStaff`` group (one MusicXML part).

        Built anew per use: music21's MusicXML exporter alters the stream it exports (the
        MIDI written from an exported score has no notes).
        """
        import music21

        converter = music21.converter.subConverters.ConverterHumdrum()
        converter.parseData(self.kern)
        score = converter.stream
        staffs = []
        for part in list(score.parts):
            score.remove(part)
            staff = music21.stream.PartStaff()
            staff.append(list(part))
            score.append(staff)
            staffs.append(staff)
        score.insert(0, music21.layout.StaffGroup(staffs, name="Piano", symbol="brace"))
        return score

    @cached_property
    def musicxml(self) -> str:
        import music21

        root = music21.musicxml.m21ToXml.ScoreExporter(self.score()).parse()
        root.find("part-list/score-part/part-name").text = "Piano"
        # deterministic output: a fixed part id, no export date or "Music21 Fragment" title
        root.find("part-list/score-part").set("id", "P1")
        root.find("part").set("id", "P1")
        for tag in ("movement-title", "identification"):
            for element in root.findall(tag):
                root.remove(element)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")

    @cached_property
    def lmx(self) -> str:
        from lmx.linearization.Linearizer import Linearizer

        linearizer = Linearizer(errout=sys.stderr, fail_on_unknown_tokens=False)
        linearizer.process_part(ET.fromstring(self.musicxml.split("\n", 1)[1]).find("part"))
        return " ".join(linearizer.output_tokens)

    @cached_property
    def png(self) -> bytes:
        """Grayscale PNG of the system, small (GrandStaff/OLiMPiC images carry no titles)."""
        import cairosvg
        import verovio
        from PIL import Image

        toolkit = verovio.toolkit()
        toolkit.setOptions(
            {"scale": 25, "adjustPageHeight": True, "adjustPageWidth": True, "header": "none", "footer": "none",
             "pageMarginLeft": 10, "pageMarginRight": 10, "pageMarginTop": 10, "pageMarginBottom": 10}
        )
        toolkit.loadData(self.kern)
        png = cairosvg.svg2png(bytestring=toolkit.renderToSVG(1).encode("utf-8"), background_color="white")
        image = Image.open(io.BytesIO(png)).convert("L")
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()

    def jpg(self, distorted: bool = False) -> bytes:
        """JPEG of the system; ``distorted`` adds GrandStaff-like rotation and blur."""
        from PIL import Image, ImageFilter

        image = Image.open(io.BytesIO(self.png))
        if distorted:
            image = image.rotate(1.5, expand=True, fillcolor=255).filter(ImageFilter.GaussianBlur(0.8))
        out = io.BytesIO()
        image.convert("L").save(out, format="JPEG", quality=70)
        return out.getvalue()

    def midi(self, staff: int | None = None, program: int = 0) -> bytes:
        """MIDI of the whole excerpt, or of one staff (0 = bass, 1 = treble) on ``program``."""
        import pretty_midi

        full = pretty_midi.PrettyMIDI(io.BytesIO(self._score_midi))
        notes = sorted((n for inst in full.instruments for n in inst.notes), key=lambda n: (n.start, n.pitch))
        if staff is not None:
            notes = [n for n in notes if (n.pitch < 60) == (staff == 0)]
        out = pretty_midi.PrettyMIDI(initial_tempo=120.0)
        instrument = pretty_midi.Instrument(program=program)
        instrument.notes = [pretty_midi.Note(velocity=80, pitch=n.pitch, start=n.start, end=n.end) for n in notes]
        out.instruments.append(instrument)
        buffer = io.BytesIO()
        out.write(buffer)
        return buffer.getvalue()

    @cached_property
    def _score_midi(self) -> bytes:
        import music21

        midi_file = music21.midi.translate.streamToMidiFile(self.score())
        fd, tmp = tempfile.mkstemp(suffix=".mid")
        os.close(fd)
        try:
            midi_file.open(tmp, "wb")
            midi_file.write()
            midi_file.close()
            return Path(tmp).read_bytes()
        finally:
            os.unlink(tmp)

    def notes(self) -> list[tuple[float, float, int]]:
        """(onset s, offset s, pitch) of :meth:`midi`, sorted."""
        import pretty_midi

        midi = pretty_midi.PrettyMIDI(io.BytesIO(self.midi()))
        return sorted((n.start, n.end, n.pitch) for inst in midi.instruments for n in inst.notes)


def render(midi: bytes, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    """Synthesise ``midi`` with TimGM6mb.sf2, cut to ``seconds``, as float32 ``(n,)`` or ``(n, 2)``."""
    import midirenderer
    import pretty_midi
    import soundfile as sf
    from scipy.signal import resample_poly

    soundfont = (Path(pretty_midi.__file__).parent / "TimGM6mb.sf2").read_bytes()
    audio, source_rate = sf.read(io.BytesIO(midirenderer.render_wave_from(soundfont, midi)), dtype="float32", always_2d=True)
    audio = audio[: int(seconds * source_rate)]
    if channels == 1:
        audio = audio.mean(axis=1, keepdims=True)
    gcd = np.gcd(rate, source_rate)
    audio = resample_poly(audio, rate // gcd, source_rate // gcd, axis=0).astype(np.float32)
    audio = 0.9 * audio / max(float(np.abs(audio).max()), 1e-6)
    return audio[:, 0] if channels == 1 else audio


# --------------------------------------------------------------------------- corpora


def make_grandstaff(out: Path, excerpts: list[Excerpt]) -> None:
    """GrandStaff-LMX: composer folders + samples.{train,dev,test}.txt."""
    places = [
        ("beethoven/piano-sonatas/sonata01-1", "original_m-0-2"),
        ("chopin/mazurkas/mazurka06-1", "original_m-4-6"),
        ("mozart/piano-sonatas/sonata11-1", "original_m-8-10"),
    ]
    for (folder, sample), excerpt, split in zip(places, excerpts, ("train", "dev", "test")):
        base = out / folder / sample
        _write(Path(f"{base}.krn"), excerpt.kern)
        _write(Path(f"{base}.jpg"), excerpt.jpg())
        _write(Path(f"{base}_distorted.jpg"), excerpt.jpg(distorted=True))
        _write(Path(f"{base}.musicxml"), excerpt.musicxml)
        _write(Path(f"{base}.lmx"), excerpt.lmx + "\n")
        _write(out / f"samples.{split}.txt", f"{folder}/{sample}\n")


def make_olimpic(out: Path, excerpts: list[Excerpt]) -> None:
    """OLiMPiC synthetic (train/dev/test) and scanned (dev/test) release folders."""
    layouts = {
        # p<page>-s<system>, both 1-based (olimpic-icdar24 app/datasets/prepare_corpus_png_systems.py)
        "olimpic-1.0-synthetic": [("train", "5364", "p1-s1"), ("train", "5364", "p1-s2"), ("dev", "6023", "p2-s1"), ("test", "7011", "p1-s3")],
        "olimpic-1.0-scanned": [("dev", "6023", "p1-s1"), ("test", "7011", "p3-s2")],
    }
    for release, samples in layouts.items():
        lists: dict[str, list[str]] = {}
        for index, (split, score_id, sample) in enumerate(samples):
            excerpt = excerpts[index % len(excerpts)]
            base = out / release / "samples" / score_id / sample
            _write(Path(f"{base}.png"), excerpt.png)
            _write(Path(f"{base}.lmx"), excerpt.lmx + "\n")
            _write(Path(f"{base}.musicxml"), excerpt.musicxml)
            lists.setdefault(split, []).append(f"samples/{score_id}/{sample}")
        for split, lines in lists.items():
            _write(out / release / f"samples.{split}.txt", "\n".join(lines) + "\n")
        vocabulary = sorted({token for e in excerpts for token in e.lmx.split()})
        _write(out / release / "vocabulary.txt", "\n".join(vocabulary) + "\n")


def make_musicnet(out: Path, excerpts: list[Excerpt]) -> None:
    """musicnet_metadata.csv + musicnet/{train,test}_{data,labels}/."""
    rate = 44100
    recordings = [("train", "1727", excerpts[0]), ("train", "1728", excerpts[1]), ("test", "2303", excerpts[2])]
    meta = ["id,composer,composition,movement,ensemble,source,transcriber,catalog_name,seconds"]
    for split, rec_id, excerpt in recordings:
        seconds = 1.0
        audio = render(excerpt.midi(), rate, seconds)
        _write(out / "musicnet" / f"{split}_data" / f"{rec_id}.wav", _wav_bytes(audio, rate))
        rows = ["start_time,end_time,instrument,note,start_beat,end_beat,note_value"]
        for onset, offset, pitch in excerpt.notes():
            if onset >= seconds:
                continue
            beats = 2.0  # 120 bpm: two beats per second
            value = "Quarter" if abs((offset - onset) * beats - 1) < 1e-3 else "Half" if (offset - onset) * beats > 1 else "Eighth"
            rows.append(f"{int(round(onset * rate))},{int(round(min(offset, seconds) * rate))},1,{pitch},"
                        f"{onset * beats:.1f},{(offset - onset) * beats:.1f},{value}")
        _write(out / "musicnet" / f"{split}_labels" / f"{rec_id}.csv", "\n".join(rows) + "\n")
        meta.append(f'{rec_id},Fixture,"Excerpt in {excerpt.name.replace("_", " ")}",1. Allegro,Solo Piano,Fixture,Fixture,Op. 0,{seconds:.0f}')
    _write(out / "musicnet_metadata.csv", "\n".join(meta) + "\n")


def make_maestro(out: Path, excerpts: list[Excerpt]) -> None:
    """maestro-v3.0.0/{maestro-v3.0.0.csv,.json} + year folders of .midi/.wav pairs."""
    import csv

    root = out / "maestro-v3.0.0"
    rows = []
    entries = [
        ("train", 2004, "MIDI-Unprocessed_SMF_02_R1_2004_01-05_ORIG_MID--AUDIO_02_R1_2004_05_Track05_wav"),
        ("validation", 2006, "MIDI-Unprocessed_07_R1_2006_01-04_ORIG_MID--AUDIO_07_R1_2006_04_Track04_wav"),
        ("test", 2018, "MIDI-Unprocessed_Recital1-3_MID--AUDIO_01_R1_2018_wav--2"),
    ]
    for (split, year, stem), excerpt in zip(entries, excerpts):
        midi_name, audio_name = f"{year}/{stem}.midi", f"{year}/{stem}.wav"
        midi = excerpt.midi()
        _write(root / midi_name, midi)
        audio = render(midi, 44100, 0.75, channels=2)
        _write(root / audio_name, _wav_bytes(audio, 44100))
        rows.append({"canonical_composer": "Fixture Composer", "canonical_title": f"Excerpt in {excerpt.name.replace('_', ' ')}",
                     "split": split, "year": year, "midi_filename": midi_name, "audio_filename": audio_name, "duration": 0.75})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write(root / "maestro-v3.0.0.csv", buffer.getvalue())
    columns = {key: {str(i): row[key] for i, row in enumerate(rows)} for key in rows[0]}
    _write(root / "maestro-v3.0.0.json", json.dumps(columns))


def make_slakh(out: Path, excerpts: list[Excerpt]) -> None:
    """slakh2100_flac_redux/{train,validation,test,omitted}/TrackNNNNN/."""
    import yaml

    rate, seconds = 44100, 1.0
    tracks = [("train", "Track00001", excerpts[0]), ("validation", "Track01501", excerpts[1]),
              ("test", "Track01876", excerpts[2]), ("omitted", "Track00049", excerpts[0])]
    for index, (split, name, excerpt) in enumerate(tracks):
        track = out / "slakh2100_flac_redux" / split / name
        stems_meta, mix, all_notes = {}, None, []
        for staff, (stem, program, inst_class, program_name) in enumerate(SLAKH_STEMS):
            midi = excerpt.midi(staff=staff, program=program)
            rendered = not (split == "omitted" and stem == "S00")  # one unrendered stem, as Slakh has
            _write(track / "MIDI" / f"{stem}.mid", midi)
            if rendered:
                audio = render(midi, rate, seconds)
                _write(track / "stems" / f"{stem}.flac", _wav_bytes(audio, rate, "FLAC"))
                mix = audio if mix is None else mix[: len(audio)] + audio[: len(mix)]
            stems_meta[stem] = {"audio_rendered": rendered, "inst_class": inst_class, "integrated_loudness": -20.0,
                                "is_drum": False, "midi_program_name": program_name, "midi_saved": True,
                                "plugin_name": "fixture_sf2.nkm", "program_num": program}
            all_notes.append((program, midi))
        _write(track / "mix.flac", _wav_bytes(0.9 * mix / max(float(np.abs(mix).max()), 1e-6), rate, "FLAC"))
        _write(track / "all_src.mid", _merge_midis(all_notes))
        meta = {"UUID": f"{index:032x}", "audio_dir": "stems", "lmd_midi_dir": f"lmd_matched/X/{index:032x}.mid",
                "midi_dir": "MIDI", "normalization_factor": -13.0, "normalized": True, "overall_gain": 0.5,
                "stems": stems_meta, "target_peak": -1.0}
        _write(track / "metadata.yaml", yaml.safe_dump(meta, sort_keys=True))


def _merge_midis(parts: list[tuple[int, bytes]]) -> bytes:
    import pretty_midi

    merged = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for program, data in parts:
        source = pretty_midi.PrettyMIDI(io.BytesIO(data))
        instrument = pretty_midi.Instrument(program=program)
        instrument.notes = [n for inst in source.instruments for n in inst.notes]
        merged.instruments.append(instrument)
    buffer = io.BytesIO()
    merged.write(buffer)
    return buffer.getvalue()


def make_bpsd(out: Path, excerpts: list[Excerpt]) -> None:
    """Beethoven_Piano_Sonata_Dataset_v2/{0_RawData,1_Audio,2_Annotations}/."""
    root = out / "Beethoven_Piano_Sonata_Dataset_v2"
    rate = 22050
    pieces = {"Op002No1-01": excerpts[0], "Op002No3-01": excerpts[1]}
    performances = [("Op002No1-01", "WK64"), ("Op002No1-01", "FJ62"), ("Op002No3-01", "WK64")]
    for piece, excerpt in pieces.items():
        _write(root / "0_RawData" / "score_xml_unfolded" / f"Beethoven_{piece}.xml", excerpt.musicxml)
        _write(root / "0_RawData" / "score_xml_repetitions" / f"Beethoven_{piece}.xml", excerpt.musicxml)
    for piece, performer in performances:
        excerpt = pieces[piece]
        stem = f"Beethoven_{piece}_{performer}"
        seconds = 1.0
        audio = render(excerpt.midi(), rate, seconds)
        _write(root / "1_Audio" / f"{stem}.wav", _wav_bytes(audio, rate))
        timesig = {"c_major": "4/4", "g_major": "3/4", "d_minor": "2/4"}[excerpt.name]
        beats_per_measure = int(timesig.split("/")[0])
        rows = ["start;end;start_meas;end_meas;pitch;pitchname;timesig;articulation"]
        for onset, offset, pitch in excerpt.notes():
            if onset >= seconds:
                continue
            to_meas = lambda t: 1 + t * 2 / beats_per_measure  # noqa: E731  (120 bpm, measure 1 at t=0)
            rows.append(f"{onset:07.3f};{min(offset, seconds):07.3f};{to_meas(onset):07.3f};{to_meas(offset):07.3f};"
                        f"{pitch};{_pitch_name(pitch)};{timesig};")
        _write(root / "2_Annotations" / "ann_audio_note" / f"{stem}.csv", "\n".join(rows) + "\n")
        measures = ["measure;time"] + [f"{m};{(m - 1) * beats_per_measure / 2:07.3f}" for m in (1, 2)]
        _write(root / "2_Annotations" / "ann_audio_measure" / f"{stem}.csv", "\n".join(measures) + "\n")


def _pitch_name(pitch: int) -> str:
    names = ["C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B"]
    return f"{names[pitch % 12]}{pitch // 12 - 1}"


MAKERS = {
    "grandstaff": make_grandstaff,
    "olimpic": make_olimpic,
    "musicnet": make_musicnet,
    "maestro": make_maestro,
    "slakh": make_slakh,
    "bpsd": make_bpsd,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures")
    parser.add_argument("--corpus", nargs="*", choices=sorted(MAKERS), default=sorted(MAKERS))
    args = parser.parse_args(argv)
    excerpts = [Excerpt(name, kern) for name, kern in EXCERPTS.items()]
    for corpus in args.corpus:
        target = args.out / corpus
        if target.exists():
            shutil.rmtree(target)
        MAKERS[corpus](target, excerpts)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"{corpus}: {sum(1 for p in target.rglob('*') if p.is_file())} files, {size / 1024:.0f} KiB in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
