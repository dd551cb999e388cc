"""Pitch and duration token EMD between LMX sequences (U-MUST Appendix B.2), as an ``evaluate`` metric."""

import datasets
import evaluate

from umust_hf.evaluation.emd import mean_token_emd, token_emd

_DESCRIPTION = """Earth Mover's Distance between normalised histograms of LMX pitch tokens (C0..B9, in
diatonic steps) and note-type tokens (1024th..maxima), per pair and averaged. The duration EMD is the
minimum over shifts -1/0/+1 of the predicted histogram. Pairs where a side has no such tokens are
skipped and counted."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): LMX read back (by OMR) from generated score images.
    references (list of str): reference LMX.
Returns:
    emd_pitch, emd_duration (float): means over pairs where defined.
    undefined_pitch, undefined_duration (int): pairs skipped for lack of tokens.
"""

_CITATION = """@article{umust2025, title={Unified Cross-modal Translation of Score Images, Symbolic Music,
and Performance Audio}, journal={IEEE TASLP}, year={2026}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TokenEmd(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        mean = mean_token_emd([token_emd(ref, pred) for pred, ref in zip(predictions, references, strict=True)])
        return {
            "emd_pitch": mean.pitch,
            "emd_duration": mean.duration,
            "undefined_pitch": mean.num_undefined_pitch,
            "undefined_duration": mean.num_undefined_duration,
        }
