"""Register umust-hf classes with transformers' ``Auto*`` factories.

Runs once on ``import umust_hf`` so that ``AutoConfig``/``AutoModel``/``AutoTokenizer``/
``AutoImageProcessor``/``AutoFeatureExtractor``/``AutoProcessor`` resolve our saved
directories. Each listed module exposes ``register() -> None`` that registers its own
classes (idempotent).
"""

from __future__ import annotations

import importlib

#: Modules whose ``register()`` is called, in order (configs before models and processors).
REGISTRARS: tuple[str, ...] = (
    ".processing.registration_tokenizers",
    ".modeling.modeling_audio_codec",
    ".modeling.modeling_spectral_audio_codec",
    ".processing.feature_extraction_umust",
    ".modeling.modeling_umust",
    ".processing.processing_umust",
    ".modeling.modeling_image_codec",
    ".processing.image_processing_umust",
)

_done = False


def register_all() -> None:
    """Register every class once per process."""
    global _done
    if _done:
        return
    for module_name in REGISTRARS:
        importlib.import_module(module_name, __package__).register()
    _done = True
