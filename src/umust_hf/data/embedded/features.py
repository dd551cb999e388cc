"""Explicit ``datasets.Features`` of the embedded corpus (the contract other modules code against)."""

from __future__ import annotations

from ...constants import SAMPLE_RATE


def excerpt_features():
    """Features of an excerpt row: four aligned modalities plus provenance.

    ``image`` is a grayscale system (mode "L", height SYSTEM_HEIGHT_PX); ``midi`` the
    performance MIDI bytes; ``audio`` embedded FLAC bytes at 44.1 kHz mono (``decode=False``
    because decoding needs torchcodec; use :func:`umust_hf.data.audio_io.decode_audio`).
    """
    from datasets import Audio, Features, Image, Sequence, Value  # heavy: datasets

    return Features(
        {
            "id": Value("string"),
            "piece_id": Value("string"),
            "source": Value("string"),
            "composer": Value("string"),
            "title": Value("string"),
            "instruments": Sequence(Value("string")),
            "programs": Sequence(Value("int32")),
            "num_staves": Value("int32"),
            "start_measure": Value("int32"),
            "end_measure": Value("int32"),
            "tempo_bpm": Value("float32"),
            "musicxml": Value("string"),
            "lmx": Value("string"),
            "image": Image(),
            "midi": Value("binary"),
            "audio": Audio(sampling_rate=SAMPLE_RATE, decode=False),
            "duration": Value("float32"),
        }
    )


def page_features():
    """Features of a page row: a grayscale page at the system scale and its detector boxes.

    Boxes are ``[x0, y0, x1, y1]`` in pixels, x1/y1 exclusive.
    """
    from datasets import Features, Image, Sequence, Value  # heavy: datasets

    return Features(
        {
            "piece_id": Value("string"),
            "page_index": Value("int32"),
            "image": Image(),
            "system_boxes": Sequence(Sequence(Value("int32"), length=4)),
            "staff_boxes": Sequence(Sequence(Value("int32"), length=4)),
        }
    )
