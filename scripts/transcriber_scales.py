"""How basic-pitch hears the package's SoundFont piano: C-major scales by register and articulation.

    python scripts/transcriber_scales.py

Each scale (8 notes from C2/C3/C4/C5, one every ``every`` seconds, each ``length`` long) is rendered with
the embedded corpus's synthesiser and transcribed; prints a Markdown table of onset F1 (50 ms), notes
found and the pitches found that were not played (octave/twelfth ghosts of low notes show here).
"""

from __future__ import annotations

import numpy as np

from umust_hf.constants import SAMPLE_RATE
from umust_hf.data._layout import notes_to_midi_bytes
from umust_hf.data.embedded.synthesis import synthesize
from umust_hf.evaluation.note_f1 import note_f1
from umust_hf.evaluation.transcribers import BasicPitchTranscriber

STEPS = (0, 2, 4, 5, 7, 9, 11, 12)
ARTICULATIONS = ((0.5, 0.5), (0.5, 0.4), (0.25, 0.25), (1.0, 0.9))  # (every s, length s)


def main() -> None:
    transcriber = BasicPitchTranscriber()
    print("| scale from | every s | length s | onset F1 | notes found / played | pitches not played |")
    print("|---|---|---|---|---|---|")
    for base in (36, 48, 60, 72):
        for every, length in ARTICULATIONS:
            notes = np.array([[0.2 + i * every, 0.2 + i * every + length, base + s] for i, s in enumerate(STEPS)])
            midi = notes_to_midi_bytes([{"onset": a, "offset": b, "pitch": int(p), "program": 0} for a, b, p in notes])
            heard = transcriber(synthesize(midi, float(notes[-1, 1]) + 0.3), SAMPLE_RATE)
            result = note_f1(notes, heard, onset_tolerance=0.05)
            extra = sorted({int(p) for p in heard[:, 2]} - {base + s for s in STEPS})
            print(f"| MIDI {base} | {every} | {length} | {result.f1:.3f} | {len(heard)} / {len(notes)} | "
                  f"{', '.join(map(str, extra)) or '–'} |")


if __name__ == "__main__":
    main()
