"""umust-hf: U-MUST (unified cross-modal music translation) for Hugging Face Transformers.

Public names are resolved lazily; importing the package registers our classes with
transformers' ``Auto*`` factories (see :mod:`umust_hf.registration`).
"""

from __future__ import annotations

from ._lazy import lazy_exports
from ._version import __version__

# public name -> module that defines it (relative to this package)
_LAZY_EXPORTS: dict[str, str] = {
    "Modality": ".vocabulary",
    "UnifiedVocabulary": ".vocabulary",
    "LMXTokenizer": ".processing.tokenization_lmx",
    "MidiTokenizer": ".processing.tokenization_midi",
    "Note": ".processing.notes",
    "UMustImageCodecConfig": ".modeling.configuration_image_codec",
    "UMustImageCodec": ".modeling.modeling_image_codec",
    "UMustImageProcessor": ".processing.image_processing_umust",
    "UMustAudioCodecConfig": ".modeling.configuration_audio_codec",
    "UMustAudioCodec": ".modeling.modeling_audio_codec",
    "UMustSpectralAudioCodecConfig": ".modeling.configuration_spectral_audio_codec",
    "UMustSpectralAudioCodec": ".modeling.modeling_spectral_audio_codec",
    "UMustFeatureExtractor": ".processing.feature_extraction_umust",
    "UMustConfig": ".modeling.configuration_umust",
    "UMustForConditionalGeneration": ".modeling.modeling_umust",
    "UMustProcessor": ".processing.processing_umust",
    "load_corpus": ".data.corpora",
    "UMustTranslator": ".translation",
    "UMustTrainer": ".training.trainer",
    "load_recipe": ".training.recipe",
}

__all__ = ["__version__", *_LAZY_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, eager=("__version__",))


from .registration import register_all as _register_all  # noqa: E402

_register_all()
