"""Evaluation metrics of the paper (§5.2, Appendix B) and their table layouts.

=====================  ===========================================  ==============
name                   what                                         paper
=====================  ===========================================  ==============
symbol_error_rate      corpus SER on LMX (and without tuplets)      Table 5
note_f1                mir_eval note F1 (onset, onset+offset)       Table 7
dtw_onset_f1           onset F1 after DTW alignment, 50/100/200 ms  Tables 3, 6
frechet_audio_distance FAD (fadtk's formula), FAD∞                  Tables 3, 6
token_emd              pitch / duration token EMD                   Table 4
MultiStageImageToAudio OMR -> MusicXML -> MIDI -> audio baseline    Table 3
=====================  ===========================================  ==============

Names resolve lazily so that importing one metric does not import the others' dependencies.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "cross_attention_map": ".alignment",
    "diagonal_mass": ".alignment",
    "symbol_error_rate": ".ser",
    "ser_counts": ".ser",
    "SerResult": ".ser",
    "note_f1": ".note_f1",
    "note_f1_at": ".note_f1",
    "NoteF1Result": ".note_f1",
    "dtw_onset_f1": ".dtw",
    "DtwF1Result": ".dtw",
    "notes_to_pianoroll": ".dtw",
    "frechet_audio_distance": ".fad",
    "fad_infinity": ".fad",
    "LogMelEmbedding": ".fad",
    "CodecLatentEmbedding": ".fad",
    "token_emd": ".emd",
    "TokenEmdResult": ".emd",
    "MultiStageImageToAudio": ".pipelines",
    "lmx_to_musicxml": ".pipelines",
    "render_tables": ".tables",
    "MethodResult": ".tables",
    "score_rows": ".scoring",
    "read_predictions": ".predictions",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
