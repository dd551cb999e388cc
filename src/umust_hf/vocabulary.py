"""The unified token vocabulary (public import path).

The implementation lives in :mod:`umust_hf.modeling.vocabulary_umust` so that a saved model
directory carries it along for ``trust_remote_code`` loading (remote code may only import
sibling files of the modeling module).
"""

from .modeling.vocabulary_umust import (  # noqa: F401
    DEFAULT_MIDI_SIZE,
    DEFAULT_NOTATION_SIZE,
    EOS_ID,
    MODALITY_ORDER,
    NUM_SPECIALS,
    PAD_ID,
    SEP_ID,
    SOS_ID,
    SPECIAL_TOKENS,
    Modality,
    UnifiedVocabulary,
)
