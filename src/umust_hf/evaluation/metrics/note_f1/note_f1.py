"""Note-level transcription F1 (mir_eval), averaged over pieces, as an ``evaluate`` metric."""

import datasets
import evaluate

from umust_hf.evaluation.note_f1 import mean_note_f1, note_f1

_DESCRIPTION = """Note F1 with mir_eval.transcription: onset within onset_tolerance (default 50 ms), pitch
within 50 cents, and, with with_offsets=True, offset within max(0.2 * duration, 50 ms). Computed per
piece and averaged. Scores are in [0, 1]."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of [onset_s, offset_s, midi_pitch]): estimated notes per piece.
    references (list of list of [onset_s, offset_s, midi_pitch]): reference notes per piece.
    onset_tolerance (float): seconds, default 0.05.
    with_offsets (bool): also require matching offsets, default False.
Returns:
    f1, precision, recall (float): means over pieces.
"""

_CITATION = """@inproceedings{raffel2014mireval, title={mir_eval: A Transparent Implementation of Common MIR
Metrics}, author={Raffel, Colin and others}, booktitle={ISMIR}, year={2014}}"""

_NOTES = datasets.Sequence(datasets.Sequence(datasets.Value("float64")))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class NoteF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _NOTES, "references": _NOTES}),
        )

    def _compute(self, predictions, references, onset_tolerance=0.05, with_offsets=False):
        results = [
            note_f1(reference, prediction, onset_tolerance=onset_tolerance, with_offsets=with_offsets)
            for prediction, reference in zip(predictions, references, strict=True)
        ]
        mean = mean_note_f1(results)
        return {"f1": mean.f1, "precision": mean.precision, "recall": mean.recall}
