"""LMXTokenizer: vocabulary layout, Auto loading, MusicXML round trips, strict/lenient decoding."""

from __future__ import annotations

import logging
import zipfile
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lmx.linearization.vocabulary import ALL_TOKENS

from umust_hf.errors import UserError
from umust_hf.processing.lmx_grammar import LMXError, check_lmx
from umust_hf.processing.tokenization_lmx import LMXTokenizer
from umust_hf.processing.tokenization_utils_umust import UnknownTokenError
from umust_hf.vocabulary import DEFAULT_NOTATION_SIZE, SPECIAL_TOKENS, UnifiedVocabulary
from helpers import quiet_repairs

SCALE = (
    "measure key:fifths:1 time beats:3 beat-type:4 clef:G2 "
    "G4 voice:1 quarter stem:up A4 eighth beam:begin B4 eighth beam:end "
    "chord D5 quarter tied:start "
    "measure D5 half tied:stop rest quarter "
    "measure rest rest:measure"
)


@lru_cache(maxsize=1)
def _schema():
    import xmlschema

    return xmlschema.XMLSchema(str(files("partitura") / "assets" / "musicxml.xsd"))


def assert_valid_musicxml(xml: str) -> None:
    """Validate against the MusicXML 3.1 XSD that partitura ships (the DOCTYPE line is skipped)."""
    body = xml.split("\n", 2)[2]
    errors = list(_schema().iter_errors(body))
    assert not errors, str(errors[0])[:500]


@pytest.fixture(scope="module")
def tok() -> LMXTokenizer:
    return LMXTokenizer()


# ----------------------------------------------------------------------------- layout
def test_vocabulary_fits_the_unified_layout(tok):
    assert tok.num_tokens == DEFAULT_NOTATION_SIZE == len(ALL_TOKENS)
    assert tok.convert_ids_to_tokens(list(range(4))) == list(SPECIAL_TOKENS)
    assert tok.tokens == list(ALL_TOKENS)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.sep_token_id) == (0, 1, 2, 3)
    vocab = UnifiedVocabulary()
    ids = tok(SCALE)["input_ids"]
    bundle = vocab.to_bundle(ids, "notation")
    assert bundle.shape == (len(ids), vocab.num_codebooks)
    unified = bundle[:, 0]
    inside = np.isin(unified, list(vocab.id_range("notation")))
    assert inside[:-1].all() and unified[-1] == 2  # tokens in the notation range, then <eos>
    assert vocab.from_bundle(bundle, "notation").tolist() == ids
    # the last LMX token maps to the last notation id
    assert vocab.local_to_unified([tok.vocab_size - 1], "notation")[0] == vocab.id_range("notation").stop - 1


def test_call_appends_eos_and_decode_inverts(tok):
    enc = tok(SCALE)
    assert enc["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == " ".join(SCALE.split())


def test_save_pretrained_loads_through_auto_tokenizer(tmp_path, tok):
    import umust_hf  # noqa: F401  (registers the tokenizers)
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is LMXTokenizer
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded(SCALE)["input_ids"] == tok(SCALE)["input_ids"]


# ----------------------------------------------------------------------------- MusicXML <-> LMX
def test_musicxml_round_trip_on_a_hand_written_sequence(tok):
    xml = tok.to_musicxml(SCALE)
    assert_valid_musicxml(xml)
    assert "<score-partwise" in xml and "<part-list>" in xml
    assert tok.from_musicxml(xml, strict=True) == SCALE.split()


def test_to_musicxml_accepts_ids_tokens_text_and_arrays(tok):
    ids = tok(SCALE)["input_ids"]
    expected = tok.to_musicxml(SCALE)
    assert tok.to_musicxml(ids) == expected
    assert tok.to_musicxml(np.array([1, *ids, 0, 0])) == expected  # <sos> skipped, stops at <eos>
    assert tok.to_musicxml(SCALE.split()) == expected


def test_from_musicxml_reads_mxl_archives_and_picks_parts(tok, tmp_path):
    xml = tok.to_musicxml(SCALE)
    archive = tmp_path / "score.mxl"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="s.xml"/></rootfiles></container>')
        z.writestr("s.xml", xml)
    assert tok.from_musicxml(archive) == SCALE.split()
    two_parts = xml.replace("</score-partwise>", xml.split("</part-list>")[1].split("</score-partwise>")[0].replace('id="P1"', 'id="P2"') + "</score-partwise>")
    with pytest.raises(UserError, match="2 parts"):
        tok.from_musicxml(two_parts)
    assert tok.from_musicxml(two_parts, part="P2") == SCALE.split()
    with pytest.raises(UserError, match="cannot read MusicXML"):
        tok.from_musicxml(tmp_path / "missing.musicxml")


def test_embedded_corpus_round_trips_every_excerpt(embedded_corpus_dir, tok):
    """MusicXML -> LMX -> MusicXML -> LMX gives the same tokens.

    The corpus' own LMX column is the raw ``lmx`` Linearizer output; ours is that output after
    the silent normalisations of :func:`check_lmx` (no reported problems).
    """
    import datasets

    corpus = datasets.load_from_disk(str(embedded_corpus_dir))
    checked = 0
    for split in corpus.values():
        for row in split.select_columns(["id", "musicxml", "lmx"]):
            tokens = tok.from_musicxml(row["musicxml"], strict=True)
            corpus_check = check_lmx(row["lmx"].split())
            assert corpus_check.problems == [] and corpus_check.tokens == tokens, row["id"]
            xml = tok.to_musicxml(tokens, strict=True)
            assert_valid_musicxml(xml)
            assert tok.from_musicxml(xml, strict=True) == tokens, row["id"]
            checked += 1
    assert checked >= 12


# ----------------------------------------------------------------------------- strict / lenient
def test_unknown_tokens_raise_in_strict_mode_and_are_dropped_in_lenient(tok, caplog):
    with pytest.raises(UnknownTokenError, match=r"'C#4' at position 2"):
        tok.to_musicxml("measure clef:G2 C#4 quarter", strict=True)
    with pytest.raises(UnknownTokenError, match="position 1"):
        LMXTokenizer(strict=True)("measure bogus")
    with caplog.at_level(logging.WARNING):
        xml = tok.to_musicxml("measure clef:G2 C#4 C4 quarter")
    assert "1 unknown token" in caplog.text
    assert tok.from_musicxml(xml) == "measure clef:G2 C4 quarter".split()


def test_note_without_type_is_an_error_in_strict_mode(tok):
    with pytest.raises(LMXError, match="dangling prefix"):
        tok.to_musicxml("measure C4 quarter D4 measure E4 half", strict=True)


def test_lenient_repairs_are_reported_and_reach_a_fixed_point(tok, caplog):
    broken = "C4 quarter chord rest half staff:1 G4 measure clef:G2 key:fifths:2 time beats:3 E4 beats:2 half"
    check = check_lmx(broken.split())
    assert check.counts == {
        "missing measure": 1, "bad chord": 1, "dangling prefix": 1, "misplaced suffix": 1,
        "duplicate token": 1, "incomplete time signature": 1, "attribute order": 1,
    }
    assert check.tokens == (
        "measure C4 quarter rest half staff:1 measure key:fifths:2 time beats:3 beat-type:4 clef:G2 E4 half"
    ).split()
    with caplog.at_level(logging.WARNING):
        xml = tok.to_musicxml(broken)
    assert "repaired ill-formed LMX" in caplog.text
    assert_valid_musicxml(xml)
    again = tok.from_musicxml(xml)
    assert check_lmx(again).problems == []
    assert tok.from_musicxml(tok.to_musicxml(again)) == again


def test_well_formed_sequences_pass_the_check_unchanged():
    check = check_lmx(SCALE.split())
    assert check.problems == [] and check.tokens == SCALE.split()


def test_empty_and_trailing_empty_measures_survive(tok):
    assert tok.from_musicxml(tok.to_musicxml([])) == ["measure"]
    for text in ("measure clef:G2 C4 whole measure measure", "measure measure", "measure measure C4 half"):
        seq = text.split()
        assert check_lmx(seq).tokens == seq
        assert tok.from_musicxml(tok.to_musicxml(seq, strict=True)) == seq


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*ALL_TOKENS, "measure", "measure", "junk"]), max_size=60),
    st.booleans(),
)
def test_random_token_sequences_never_raise_in_lenient_decoding(tokens, lead_measure):
    tok = LMXTokenizer()
    tokens = (["measure"] if lead_measure else []) + tokens
    with quiet_repairs():
        xml = tok.to_musicxml(tokens)
        once = tok.from_musicxml(xml)
    assert_valid_musicxml(xml)
    assert check_lmx(once).problems == []
    assert tok.from_musicxml(tok.to_musicxml(once, strict=True), strict=True) == once


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=300), max_size=80))
def test_random_ids_never_raise_in_lenient_decoding(ids):
    tok = LMXTokenizer()
    with quiet_repairs():
        xml = tok.to_musicxml(ids)
    assert_valid_musicxml(xml)


def test_out_of_range_ids_raise_in_strict_mode(tok):
    with pytest.raises(UnknownTokenError, match="id 999 at position 1"):
        tok.to_musicxml([4, 999], strict=True)
    with pytest.raises(UnknownTokenError, match="<sep>"):
        tok.to_musicxml([4, 3], strict=True)


def test_output_parses_with_music21(tok):
    music21 = pytest.importorskip("music21")
    score = music21.converter.parseData(tok.to_musicxml(SCALE), format="musicxml")
    pitches = [p.nameWithOctave for n in score.recurse().notes for p in n.pitches]
    assert pitches[:3] == ["G4", "A4", "B4"]


@st.composite
def well_formed_lmx(draw) -> list[str]:
    """Random LMX as the Linearizer writes it: attributes, notes, chords, rests, dots, tuplets, stems, ties, grace notes."""
    pitches = [f"{step}{octave}" for octave in range(2, 7) for step in "CDEFGAB"]
    types = ["16th", "eighth", "quarter", "half", "whole"]
    tokens: list[str] = []
    for m in range(draw(st.integers(1, 4))):
        tokens.append("measure")
        if m == 0 or draw(st.booleans()):
            if draw(st.booleans()):
                tokens.append(f"key:fifths:{draw(st.integers(-7, 7))}")
            if m == 0 or draw(st.booleans()):
                tokens += ["time", f"beats:{draw(st.integers(1, 12))}", f"beat-type:{draw(st.sampled_from([2, 4, 8]))}"]
            if draw(st.booleans()):
                tokens.append(draw(st.sampled_from(["clef:G2", "clef:F4", "clef:C3"])))
        if draw(st.integers(0, 5)) == 0:
            tokens += ["rest", "rest:measure"]
            continue
        voice = draw(st.booleans())
        previous_pitched = False
        stem = None  # written only when it changes, never on rests or whole notes (as the Linearizer does)
        for n in range(draw(st.integers(0, 8))):
            kind = draw(st.sampled_from(["note", "note", "chord", "rest", "grace"]))
            if kind == "chord" and not previous_pitched:
                kind = "note"
            item = {"note": [], "chord": ["chord"], "grace": ["grace"], "rest": []}[kind]
            item.append("rest" if kind == "rest" else draw(st.sampled_from(pitches)))
            if voice and n == 0:
                item.append("voice:1")
            item.append(draw(st.sampled_from(types)))
            if kind != "grace" and draw(st.booleans()):
                item.append(draw(st.sampled_from(["3in2", "5in4"])))
            item += ["dot"] * draw(st.integers(0, 2))
            if kind != "rest" and draw(st.booleans()):
                item.append(draw(st.sampled_from(["sharp", "flat", "natural"])))
            if kind != "rest" and "whole" not in item and draw(st.booleans()):
                new_stem = draw(st.sampled_from(["stem:up", "stem:down"]))
                if new_stem != stem:
                    item.append(new_stem)
                    stem = new_stem
            for mark in ("tied:stop", "tied:start", "tuplet:stop", "tuplet:start", "fermata", "staccato"):
                if draw(st.integers(0, 5)) == 0:
                    item.append(mark)
            tokens += item
            previous_pitched = kind != "rest"
    return tokens


@settings(max_examples=120, deadline=None)
@given(well_formed_lmx())
def test_well_formed_random_lmx_round_trips_strictly(tokens):
    tok = LMXTokenizer(strict=True)
    assert check_lmx(tokens).problems == []
    xml = tok.to_musicxml(tokens)
    assert_valid_musicxml(xml)
    assert tok.from_musicxml(xml) == tokens
