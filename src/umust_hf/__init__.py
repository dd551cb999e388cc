"""umust-hf: U-MUST (unified cross-modal music translation) for Hugging Face Transformers.

Public names are resolved lazily; importing the package registers our classes with
transformers' ``Auto*`` factories (see :mod:`umust_hf.registration`).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# public name -> module that defines it (relative to this package)
_LAZY_EXPORTS: dict[str, str] = {
    "Modality": ".vocabulary",
    "UnifiedVocabulary": ".vocabulary",
    "LMXTokenizer": ".processing.tokenization_lmx",
    "MidiTokenizer": ".processing.tokenization_midi",
    "Note": ".processing.notes",
    "UMustImageCodecConfig": ".modeling.configuration_rqvae",
    "UMustImageCodec": ".modeling.modeling_rqvae",
    "UMustImageProcessor": ".processing.image_processing_umust",
    "UMustAudioCodecConfig": ".modeling.configuration_audio_codec",
    "UMustAudioCodec": ".modeling.modeling_audio_codec",
    "UMustFeatureExtractor": ".processing.feature_extraction_umust",
    "shift_variants": ".modeling.modeling_audio_codec",
    "UMustConfig": ".modeling.configuration_umust",
    "UMustForConditionalGeneration": ".modeling.modeling_umust",
    "UMustProcessor": ".processing.processing_umust",
    "load_corpus": ".data.corpora",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'umust_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


from .registration import register_all as _register_all  # noqa: E402

_register_all()
