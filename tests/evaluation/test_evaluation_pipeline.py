"""The multi-stage baseline runs OMR -> MusicXML -> MIDI -> audio with real stages after OMR."""

import io
import xml.etree.ElementTree as ET

import numpy as np
import pretty_midi
import pytest

from umust_hf.evaluation.pipelines import MultiStageImageToAudio, lmx_to_musicxml

LMX = (
    "measure key:fifths:0 time beats:4 beat-type:4 clef:G2 C4 quarter D4 quarter E4 quarter chord G4 quarter F4 quarter"
)


def test_lmx_to_musicxml_round_trips_through_the_linearizer():
    from lmx.linearization.Linearizer import Linearizer

    xml = lmx_to_musicxml(LMX)
    root = ET.fromstring(xml.encode())
    assert root.tag == "score-partwise"
    linearizer = Linearizer(errout=io.StringIO())
    linearizer.process_part(root.find("part"))
    assert " ".join(linearizer.output_tokens) == LMX
    # an ill-formed prediction (unknown token, no leading measure) is repaired, not fatal
    repaired = ET.fromstring(lmx_to_musicxml("C4 quarter bogus D4 half").encode())
    assert [p.findtext("step") for p in repaired.iter("pitch")] == ["C", "D"]


def test_pipeline_composes_stages_and_keeps_intermediates():
    from umust_hf.data.embedded.performance import perform, to_midi_bytes
    from umust_hf.data.embedded.synthesis import synthesize

    seen = {}

    def oracle_omr(image):  # an OMR that reads the image perfectly (the "GT notation" upper bound)
        seen["image"] = image
        return LMX

    def render(musicxml):
        notes = perform(musicxml.encode(), tempo_bpm=120.0, rng=np.random.default_rng(0), humanize=False)
        return to_midi_bytes(notes, program=0, tempo_bpm=120.0)

    def synth(midi):
        end = pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_end_time()
        return synthesize(midi, end), 44100

    image = np.zeros((192, 64), dtype=np.uint8)
    output = MultiStageImageToAudio(omr=oracle_omr, perform=render, synthesize=synth)(image)
    assert seen["image"] is image and output.lmx == LMX
    notes = pretty_midi.PrettyMIDI(io.BytesIO(output.midi)).instruments[0].notes
    assert sorted((round(n.start, 3), n.pitch) for n in notes) == [
        (0.0, 60),
        (0.5, 62),
        (1.0, 64),
        (1.0, 67),
        (1.5, 65),
    ]
    assert output.sample_rate == 44100 and output.audio.ndim == 1
    assert output.audio.shape[0] >= 2.0 * 44100 and np.abs(output.audio).max() > 0.1


def test_pipeline_rejects_bad_stage_outputs():
    pipeline = MultiStageImageToAudio(
        omr=lambda image: None, perform=lambda x: b"", synthesize=lambda m: (np.zeros(3), 1)
    )
    with pytest.raises(TypeError, match="LMX string"):
        pipeline(object())
    stereo = MultiStageImageToAudio(
        omr=lambda image: LMX, perform=lambda x: b"", synthesize=lambda m: (np.zeros((2, 3)), 1)
    )
    with pytest.raises(ValueError, match="mono"):
        stereo(object())
