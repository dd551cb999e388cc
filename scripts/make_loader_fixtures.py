#!/usr/bin/env python
"""Write the tiny, layout-exact corpus fixtures under ``tests/fixtures/<corpus>/``.

Each fixture reproduces a public corpus's published folder layout, file names, split and
metadata files (see the docstrings of ``umust_hf.data.<corpus>``) with a handful of samples
taken from the **embedded corpus** (``umust_hf.data.embedded``: MusicXML, LMX, a system
image, a performance MIDI and its audio per excerpt). Audio and MIDI are cut to the first
second; the aligned note tables (MusicNet labels, BPSD notes) are read off that MIDI; Slakh's
two stems are the excerpt's low and high notes, re-synthesised with the embedded corpus's
synthesiser. GrandStaff alone is kern-native: its three excerpts are short hand-written
Humdrum **kern files, rendered and converted the way GrandStaff(-LMX) was (kern -> Verovio
image; kern -> music21 MusicXML with both staves in one part -> LMX).

Usage: ``python scripts/make_loader_fixtures.py [--out tests/fixtures] [--corpus NAME ...]
[--embedded DIR]`` (without ``--embedded`` a 3-piece embedded corpus is built in a temporary
folder, about a minute on 2 cores). Deterministic: the same inputs give the same files.
Total size stays well under 5 MB.
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
SAMPLE_RATE = 44100  # the embedded corpus's rate (umust_hf.constants.SAMPLE_RATE), also MusicNet's and MAESTRO's

#: GrandStaff's three excerpts (left spine = bass staff, right spine = treble staff).
KERN_EXCERPTS: dict[str, str] = {
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
class KernExcerpt:
    """A hand-written **kern excerpt and what GrandStaff(-LMX) derives from it."""

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
        import verovio
        from PIL import Image

        from umust_hf.data.embedded.rendering import rasterize_svg

        toolkit = verovio.toolkit()
        toolkit.setOptions(
            {"scale": 25, "adjustPageHeight": True, "adjustPageWidth": True, "header": "none", "footer": "none",
             "pageMarginLeft": 10, "pageMarginRight": 10, "pageMarginTop": 10, "pageMarginBottom": 10}
        )
        toolkit.loadData(self.kern)
        image = Image.fromarray(rasterize_svg(toolkit.renderToSVG(1)))
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


def make_grandstaff(out: Path, excerpts: list[KernExcerpt]) -> None:
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



#: Seconds of audio (and MIDI) every fixture recording keeps.
SECONDS = 1.0


@dataclass
class EmbeddedExcerpt:
    """One embedded-corpus excerpt cut to :data:`SECONDS`: notation, image, MIDI, audio."""

    id: str
    num_staves: int
    tempo_bpm: float
    musicxml: str
    lmx: str
    image: "Image.Image"  # noqa: F821  (PIL, grayscale system)
    midi: bytes
    audio: np.ndarray  # float32 (n,) at 44.1 kHz

    @classmethod
    def from_row(cls, row: dict) -> EmbeddedExcerpt:
        from umust_hf.data.audio_io import decode_audio

        audio, rate = decode_audio(row["audio"])
        if rate != SAMPLE_RATE:
            raise ValueError(f"embedded audio at {rate} Hz, expected {SAMPLE_RATE}")
        return cls(
            id=row["id"],
            num_staves=int(row["num_staves"]),
            tempo_bpm=float(row["tempo_bpm"]),
            musicxml=row["musicxml"],
            lmx=row["lmx"],
            image=row["image"].convert("L"),
            midi=_cut_midi(row["midi"], SECONDS),
            audio=audio[: int(SECONDS * SAMPLE_RATE)].astype(np.float32),
        )

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, format="PNG", optimize=True)
        return out.getvalue()

    def notes(self) -> list[tuple[float, float, int, int]]:
        """(onset s, offset s, pitch, GM program) of the cut MIDI, sorted."""
        from umust_hf.data.audio_io import read_midi_notes

        return sorted((n.start, n.end, n.pitch, n.program) for n in read_midi_notes(self.midi))

    def part_midi(self, low: bool, program: int) -> bytes:
        """The notes below (``low``) or from middle C up, as one instrument on ``program``."""
        return _notes_midi([(s, e, p) for s, e, p, _ in self.notes() if (p < 60) == low], program)


def _notes_midi(notes: list[tuple[float, float, int]], program: int) -> bytes:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    instrument = pretty_midi.Instrument(program=program)
    instrument.notes = [pretty_midi.Note(velocity=80, pitch=p, start=s, end=e) for s, e, p in notes]
    midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def _cut_midi(data: bytes, seconds: float) -> bytes:
    """The notes of ``data`` that start before ``seconds``, ended by ``seconds`` at the latest."""
    import pretty_midi

    source = pretty_midi.PrettyMIDI(io.BytesIO(bytes(data)))
    out = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for inst in source.instruments:
        kept = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        kept.notes = [
            pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=min(n.end, seconds))
            for n in inst.notes
            if n.start < seconds - 0.02
        ]
        if kept.notes:
            out.instruments.append(kept)
    buffer = io.BytesIO()
    out.write(buffer)
    return buffer.getvalue()


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    divisor = gcd(rate, SAMPLE_RATE)
    return resample_poly(audio, rate // divisor, SAMPLE_RATE // divisor).astype(np.float32)


def embedded_excerpts(embedded: Path | None) -> list[EmbeddedExcerpt]:
    """Excerpts of a built embedded corpus (built here, 3 pieces, when ``embedded`` is None), in a fixed order."""
    from umust_hf.data.embedded import build_embedded_corpus, load_embedded_corpus

    with tempfile.TemporaryDirectory() as tmp:
        directory = embedded
        if directory is None:
            directory = Path(tmp) / "embedded"
            build_embedded_corpus(directory, max_pieces=3, seed=0, num_proc=2, show_progress=False)
        corpus = load_embedded_corpus(directory)
        rows = [row for split in ("train", "validation", "test") if split in corpus for row in corpus[split]]
        excerpts = [EmbeddedExcerpt.from_row(row) for row in sorted(rows, key=lambda r: r["id"])]
    piano = [e for e in excerpts if e.num_staves == 2 and e.notes()]
    if len(piano) < 4:
        raise SystemExit(f"the embedded corpus has {len(piano)} two-staff excerpts; the fixtures need 4 (use a larger --embedded build)")
    return excerpts


def _piano(excerpts: list[EmbeddedExcerpt]) -> list[EmbeddedExcerpt]:
    """Two-staff excerpts (OLiMPiC, BPSD and Slakh's two stems need a grand staff)."""
    return [e for e in excerpts if e.num_staves == 2 and e.notes()]


def make_olimpic(out: Path, excerpts: list[EmbeddedExcerpt]) -> None:
    """OLiMPiC synthetic (train/dev/test) and scanned (dev/test) release folders."""
    piano = _piano(excerpts)
    layouts = {
        # p<page>-s<system>, both 1-based (olimpic-icdar24 app/datasets/prepare_corpus_png_systems.py)
        "olimpic-1.0-synthetic": [("train", "5364", "p1-s1"), ("train", "5364", "p1-s2"), ("dev", "6023", "p2-s1"), ("test", "7011", "p1-s3")],
        "olimpic-1.0-scanned": [("dev", "6023", "p1-s1"), ("test", "7011", "p3-s2")],
    }
    for release, samples in layouts.items():
        lists: dict[str, list[str]] = {}
        for index, (split, score_id, sample) in enumerate(samples):
            excerpt = piano[index % len(piano)]
            base = out / release / "samples" / score_id / sample
            _write(Path(f"{base}.png"), excerpt.png())
            _write(Path(f"{base}.lmx"), excerpt.lmx + "\n")
            _write(Path(f"{base}.musicxml"), excerpt.musicxml)
            lists.setdefault(split, []).append(f"samples/{score_id}/{sample}")
        for split, lines in lists.items():
            _write(out / release / f"samples.{split}.txt", "\n".join(lines) + "\n")
        from lmx.linearization.vocabulary import ALL_TOKENS

        _write(out / release / "vocabulary.txt", "\n".join(ALL_TOKENS) + "\n")


def _note_value(beats: float) -> str:
    names = {4.0: "Whole", 3.0: "Dotted Half", 2.0: "Half", 1.5: "Dotted Quarter", 1.0: "Quarter",
             0.75: "Dotted Eighth", 0.5: "Eighth", 0.25: "Sixteenth", 0.125: "Thirty Second"}
    return names[min(names, key=lambda value: abs(value - beats))]


def make_musicnet(out: Path, excerpts: list[EmbeddedExcerpt]) -> None:
    """musicnet_metadata.csv + musicnet/{train,test}_{data,labels}/."""
    recordings = [("train", "1727", excerpts[0]), ("train", "1728", excerpts[1]), ("test", "2303", excerpts[-1])]
    meta = ["id,composer,composition,movement,ensemble,source,transcriber,catalog_name,seconds"]
    for split, rec_id, excerpt in recordings:
        _write(out / "musicnet" / f"{split}_data" / f"{rec_id}.wav", _wav_bytes(excerpt.audio, SAMPLE_RATE))
        beats_per_second = excerpt.tempo_bpm / 60.0
        rows = ["start_time,end_time,instrument,note,start_beat,end_beat,note_value"]
        for onset, offset, pitch, program in excerpt.notes():
            duration = (offset - onset) * beats_per_second  # MusicNet's end_beat column holds the duration in beats
            rows.append(f"{int(round(onset * SAMPLE_RATE))},{int(round(offset * SAMPLE_RATE))},{program + 1},{pitch},"
                        f"{onset * beats_per_second:.3f},{duration:.3f},{_note_value(duration)}")
        _write(out / "musicnet" / f"{split}_labels" / f"{rec_id}.csv", "\n".join(rows) + "\n")
        meta.append(f'{rec_id},Embedded,"{excerpt.id}",1. Excerpt,Solo Piano,umust-hf embedded corpus,umust-hf,Emb. {rec_id},{SECONDS:.0f}')
    _write(out / "musicnet_metadata.csv", "\n".join(meta) + "\n")


def make_maestro(out: Path, excerpts: list[EmbeddedExcerpt]) -> None:
    """maestro-v3.0.0/{maestro-v3.0.0.csv,.json} + year folders of .midi/.wav pairs."""
    import csv

    root = out / "maestro-v3.0.0"
    rows = []
    entries = [
        ("train", 2004, "MIDI-Unprocessed_SMF_02_R1_2004_01-05_ORIG_MID--AUDIO_02_R1_2004_05_Track05_wav"),
        ("validation", 2006, "MIDI-Unprocessed_07_R1_2006_01-04_ORIG_MID--AUDIO_07_R1_2006_04_Track04_wav"),
        ("test", 2018, "MIDI-Unprocessed_Recital1-3_MID--AUDIO_01_R1_2018_wav--2"),
    ]
    for (split, year, stem), excerpt in zip(entries, excerpts[1:] + excerpts[:1]):
        midi_name, audio_name = f"{year}/{stem}.midi", f"{year}/{stem}.wav"
        _write(root / midi_name, excerpt.midi)
        stereo = np.stack([excerpt.audio, excerpt.audio], axis=1)  # MAESTRO's recordings are stereo
        _write(root / audio_name, _wav_bytes(stereo, SAMPLE_RATE))
        rows.append({"canonical_composer": "Embedded Corpus", "canonical_title": excerpt.id,
                     "split": split, "year": year, "midi_filename": midi_name, "audio_filename": audio_name, "duration": SECONDS})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write(root / "maestro-v3.0.0.csv", buffer.getvalue())
    columns = {key: {str(i): row[key] for i, row in enumerate(rows)} for key in rows[0]}
    _write(root / "maestro-v3.0.0.json", json.dumps(columns))


def make_slakh(out: Path, excerpts: list[EmbeddedExcerpt]) -> None:
    """slakh2100_flac_redux/{train,validation,test,omitted}/TrackNNNNN/."""
    import yaml

    from umust_hf.data.embedded.synthesis import synthesize

    piano = _piano(excerpts)
    tracks = [("train", "Track00001"), ("validation", "Track01501"), ("test", "Track01876"), ("omitted", "Track00049")]
    length = int(SECONDS * SAMPLE_RATE)
    for index, (split, name) in enumerate(tracks):
        excerpt = piano[index % len(piano)]
        track = out / "slakh2100_flac_redux" / split / name
        stems_meta, parts, mix = {}, [], np.zeros(length, np.float32)
        for stem, program, inst_class, program_name in SLAKH_STEMS:
            midi = excerpt.part_midi(low=stem == "S00", program=program)
            rendered = not (split == "omitted" and stem == "S00")  # one unrendered stem, as Slakh has
            _write(track / "MIDI" / f"{stem}.mid", midi)
            if rendered:
                audio = np.zeros(length, np.float32)
                rendered_audio = synthesize(midi, SECONDS)[:length]
                audio[: len(rendered_audio)] = rendered_audio
                _write(track / "stems" / f"{stem}.flac", _wav_bytes(audio, SAMPLE_RATE, "FLAC"))
                mix += audio
            stems_meta[stem] = {"audio_rendered": rendered, "inst_class": inst_class, "integrated_loudness": -20.0,
                                "is_drum": False, "midi_program_name": program_name, "midi_saved": True,
                                "plugin_name": "fixture_sf2.nkm", "program_num": program}
            parts.append((program, midi))
        _write(track / "mix.flac", _wav_bytes(0.89 * mix / max(float(np.abs(mix).max()), 1e-6), SAMPLE_RATE, "FLAC"))
        _write(track / "all_src.mid", _merge_midis(parts))
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


def make_bpsd(out: Path, excerpts: list[EmbeddedExcerpt]) -> None:
    """Beethoven_Piano_Sonata_Dataset_v2/{0_RawData,1_Audio,2_Annotations}/."""
    import re

    root = out / "Beethoven_Piano_Sonata_Dataset_v2"
    rate = 22050  # BPSD's recordings are 22.05 kHz mono
    piano = _piano(excerpts)
    pieces = {"Op002No1-01": piano[0], "Op002No3-01": piano[1]}
    performances = [("Op002No1-01", "WK64"), ("Op002No1-01", "FJ62"), ("Op002No3-01", "WK64")]
    for piece, excerpt in pieces.items():
        _write(root / "0_RawData" / "score_xml_unfolded" / f"Beethoven_{piece}.xml", excerpt.musicxml)
        _write(root / "0_RawData" / "score_xml_repetitions" / f"Beethoven_{piece}.xml", excerpt.musicxml)
    for piece, performer in performances:
        excerpt = pieces[piece]
        stem = f"Beethoven_{piece}_{performer}"
        _write(root / "1_Audio" / f"{stem}.wav", _wav_bytes(_resample(excerpt.audio, rate), rate))
        beats, beat_type = (int(x) for x in re.search(r"beats:(\d+) beat-type:(\d+)", excerpt.lmx).groups())
        seconds_per_measure = beats * (4 / beat_type) * 60.0 / excerpt.tempo_bpm
        to_meas = lambda t: 1 + t / seconds_per_measure  # noqa: E731  (measure 1 starts at t = 0)
        rows = ["start;end;start_meas;end_meas;pitch;pitchname;timesig;articulation"]
        for onset, offset, pitch, _ in excerpt.notes():
            rows.append(f"{onset:07.3f};{offset:07.3f};{to_meas(onset):07.3f};{to_meas(offset):07.3f};"
                        f"{pitch};{_pitch_name(pitch)};{beats}/{beat_type};")
        _write(root / "2_Annotations" / "ann_audio_note" / f"{stem}.csv", "\n".join(rows) + "\n")
        measures = ["measure;time"] + [f"{m};{(m - 1) * seconds_per_measure:07.3f}" for m in range(1, 2 + int(SECONDS / seconds_per_measure))]
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
    parser.add_argument("--embedded", type=Path, default=None, help="a built embedded corpus to take excerpts from")
    args = parser.parse_args(argv)
    embedded = None
    if set(args.corpus) - {"grandstaff"}:
        embedded = embedded_excerpts(args.embedded)
    for corpus in args.corpus:
        target = args.out / corpus
        if target.exists():
            shutil.rmtree(target)
        if corpus == "grandstaff":
            make_grandstaff(target, [KernExcerpt(name, kern) for name, kern in KERN_EXCERPTS.items()])
        else:
            MAKERS[corpus](target, embedded)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"{corpus}: {sum(1 for p in target.rglob('*') if p.is_file())} files, {size / 1024:.0f} KiB in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
