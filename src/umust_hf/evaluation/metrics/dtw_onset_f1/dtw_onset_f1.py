"""Onset F1 after DTW alignment of the generated piano roll to the reference, as an ``evaluate`` metric."""

import datasets
import evaluate

from umust_hf.evaluation.dtw import DEFAULT_TOLERANCES, dtw_onset_f1

_DESCRIPTION = """U-MUST's image-to-audio note accuracy (Appendix B.1): the generated notes (transcribed from
generated audio) are time-warped onto the reference by dynamic time warping of 100 fps piano rolls,
then mir_eval onset F1 is taken at each tolerance (50/100/200 ms) and averaged over pieces. Scores in [0, 1]."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of [onset_s, offset_s, midi_pitch]): generated notes per piece.
    references (list of list of [onset_s, offset_s, midi_pitch]): reference notes per piece.
    tolerances (list of float): onset tolerances in seconds, default (0.05, 0.1, 0.2).
Returns:
    f1_50, f1_100, f1_200 (float): mean aligned onset F1 per tolerance (keys in milliseconds).
    unaligned_f1_50, ... (float): the same without alignment.
"""

_CITATION = """@article{umust2025, title={Unified Cross-modal Translation of Score Images, Symbolic Music,
and Performance Audio}, journal={IEEE TASLP}, year={2026}}"""

_NOTES = datasets.Sequence(datasets.Sequence(datasets.Value("float64")))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DtwOnsetF1(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _NOTES, "references": _NOTES}),
        )

    def _compute(self, predictions, references, tolerances=DEFAULT_TOLERANCES):
        results = [
            dtw_onset_f1(ref, pred, tolerances=tolerances) for pred, ref in zip(predictions, references, strict=True)
        ]
        scores = {}
        for tolerance in tolerances:
            key = round(float(tolerance) * 1000)
            scores[f"f1_{key}"] = sum(r.aligned[float(tolerance)].f1 for r in results) / len(results)
            scores[f"unaligned_f1_{key}"] = sum(r.unaligned[float(tolerance)].f1 for r in results) / len(results)
        return scores
