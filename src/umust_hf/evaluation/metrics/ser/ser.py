"""Symbol error rate on Linearized MusicXML (OLiMPiC's corpus-level SER), as an ``evaluate`` metric."""

import datasets
import evaluate

from umust_hf.evaluation.ser import ser_counts

_DESCRIPTION = """Corpus-level symbol error rate (percent) of whitespace-split LMX token sequences:
100 * sum of token Levenshtein distances / sum of reference token counts (OLiMPiC, Mayer et al. 2024).
Also reports SERnotuplets, which ignores tuplet:start, tuplet:stop and NinM tokens."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): predicted LMX strings.
    references (list of str): reference LMX strings.
Returns:
    ser (float): corpus SER in percent.
    ser_notuplets (float): the same without tuplet tokens.
    edits (int), gold_tokens (int): the totals behind ``ser``.
"""

_CITATION = """@inproceedings{mayer2024olimpic,
  title={Practical End-to-End Optical Music Recognition for Pianoform Music},
  author={Mayer, Jiri and Straka, Milan and Hajic jr., Jan and Pecina, Pavel},
  booktitle={ICDAR}, year={2024}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Ser(evaluate.Metric):
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
        full = ser_counts(references, predictions)
        notuplets = ser_counts(references, predictions, drop_tuplets=True)
        return {"ser": full.ser, "ser_notuplets": notuplets.ser, "edits": full.edits, "gold_tokens": full.gold_tokens}
