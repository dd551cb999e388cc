"""Fréchet Audio Distance (fadtk's formula) as an ``evaluate`` metric."""

import datasets
import evaluate
import numpy as np

from umust_hf.evaluation.fad import LogMelEmbedding, fad_infinity, frechet_audio_distance

_DESCRIPTION = """Fréchet Audio Distance between the frame embeddings of generated and reference clips
(fadtk: one Gaussian per set over all frames; ||mu_r - mu_g||^2 + tr(S_r + S_g - 2 (S_r S_g)^1/2)).
Inputs are either per-clip embedding matrices (frames x dim) or mono waveforms, which are embedded with
umust_hf's weight-free LogMelEmbedding (VGGish's log-mel front end, 64 bands, 10 frames/s)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated clips, each a (frames x dim) embedding matrix or a mono waveform.
    references: reference clips, in the same form. (``evaluate`` insists on as many references as
        predictions; the clips are pooled per side, so the pairing itself does not matter. Use
        umust_hf.evaluation.fad.frechet_audio_distance directly for sets of different sizes.)
    sample_rate (int): required for waveforms.
    infinity (bool): also report FAD-inf (fadtk score_inf; needs >= min_n generated frames).
    min_n (int), steps (int), seed (int): FAD-inf parameters (defaults 500, 25, 0).
Returns:
    fad (float), and fad_inf, fad_inf_r2 (float) when infinity=True.
"""

_CITATION = """@inproceedings{gui2024fadtk, title={Adapting Frechet Audio Distance for Generative Music
Evaluation}, author={Gui, Azalea and Gamper, Hannes and Braun, Sebastian and Emmanouilidou, Dimitra},
booktitle={ICASSP}, year={2024}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Fad(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        matrix = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
        waveform = datasets.Sequence(datasets.Value("float32"))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": matrix, "references": matrix}),
                datasets.Features({"predictions": waveform, "references": waveform}),
            ],
        )

    def _compute(self, predictions, references, sample_rate=None, infinity=False, min_n=500, steps=25, seed=0):
        def embed(clips):
            arrays = [np.asarray(clip, dtype=np.float64) for clip in clips]
            if arrays and arrays[0].ndim == 2:
                return arrays
            if sample_rate is None:
                raise ValueError("waveform inputs need sample_rate=")
            embedding = LogMelEmbedding()
            return [embedding(clip, int(sample_rate)) for clip in arrays]

        generated, reference = embed(predictions), embed(references)
        scores = {"fad": frechet_audio_distance(reference, generated)}
        if infinity:
            result = fad_infinity(reference, generated, min_n=min_n, steps=steps, seed=seed)
            scores.update(fad_inf=result.score, fad_inf_r2=result.r2)
        return scores
