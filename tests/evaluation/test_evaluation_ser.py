"""SER: hand-computed cases, the corpus-level definition, SERnotuplets, and an independent DP."""

import random

import pytest

from umust_hf.evaluation.ser import is_tuplet_token, ser_counts, split_tokens, symbol_error_rate, token_edit_distance


def _reference_levenshtein(a, b):
    """Textbook dynamic programme, written independently of the code under test."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_hand_computed_substitution_and_deletion():
    # gold a b c d -> pred a x c : substitute b->x, delete d = 2 edits over 4 gold tokens
    assert symbol_error_rate(["a b c d"], ["a x c"]) == pytest.approx(50.0)


def test_tokens_count_as_whole_symbols_not_characters():
    # "quarter" -> "eighth" differs in many characters but is one token edit
    assert symbol_error_rate(["C4 quarter"], ["C4 eighth"]) == pytest.approx(50.0)
    assert token_edit_distance(["quarter"], ["eighth"]) == 1


def test_corpus_level_ratio_not_mean_of_sample_ratios():
    gold = [" ".join(f"t{i}" for i in range(10)), "x y"]
    pred = [gold[0], ""]
    # 0 edits on 10 tokens, 2 deletions on 2 tokens: corpus 2/12, not mean(0%, 100%) = 50%
    assert symbol_error_rate(gold, pred) == pytest.approx(100 * 2 / 12)
    result = ser_counts(gold, pred)
    assert (result.edits, result.gold_tokens, result.num_samples) == (2, 12, 2)


def test_insertions_can_push_ser_above_100():
    assert symbol_error_rate(["a"], ["b c d"]) == pytest.approx(300.0)


def test_whitespace_split_like_str_split():
    assert split_tokens("  measure\tC4  quarter\n") == ["measure", "C4", "quarter"]
    assert symbol_error_rate(["measure C4 quarter"], ["measure\nC4\t\tquarter "]) == 0.0


def test_notuplets_drops_brackets_and_time_modifications():
    gold = "C4 eighth 3in2 tuplet:start D4 eighth 3in2 E4 eighth 3in2 tuplet:stop"
    pred = "C4 eighth D4 eighth E4 eighth"
    # 11 gold tokens, 5 tuplet tokens missing
    assert symbol_error_rate([gold], [pred]) == pytest.approx(100 * 5 / 11)
    assert symbol_error_rate([gold], [pred], drop_tuplets=True) == 0.0
    # a wrong pitch still counts without tuplets: 1 edit over 6 remaining gold tokens
    assert symbol_error_rate([gold], ["C4 eighth D4 eighth F4 eighth 3in2"], drop_tuplets=True) == pytest.approx(
        100 / 6
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [("tuplet:start", True), ("tuplet:stop", True), ("3in2", True), ("13in8", True), ("35in16", True),
     ("beam:begin", False), ("in", False), ("3in", False), ("tuplet", False), ("quarter", False)],
)  # fmt: skip
def test_tuplet_token_rule(token, expected):
    assert is_tuplet_token(token) is expected


def test_matches_independent_levenshtein_on_random_token_lists():
    rng = random.Random(0)
    vocabulary = ["C4", "D4", "quarter", "eighth", "measure", "chord", "3in2", "tuplet:start"]
    gold, pred = [], []
    for _ in range(40):
        gold.append([rng.choice(vocabulary) for _ in range(rng.randint(0, 15))])
        pred.append([rng.choice(vocabulary) for _ in range(rng.randint(0, 15))])
    edits = sum(_reference_levenshtein(g, p) for g, p in zip(gold, pred, strict=True))
    total = sum(len(g) for g in gold)
    assert symbol_error_rate(gold, pred) == pytest.approx(100 * edits / total)
    assert symbol_error_rate([" ".join(g) for g in gold], [" ".join(p) for p in pred]) == pytest.approx(
        100 * edits / total
    )


def test_mismatched_lengths_and_empty_gold():
    with pytest.raises(ValueError, match="one prediction per gold sample"):
        symbol_error_rate(["a"], ["a", "b"])
    assert symbol_error_rate([""], [""]) == 0.0
    assert symbol_error_rate([""], ["a"]) == float("inf")


def test_token_kinds_and_ser_by_kind_count_each_error_under_its_own_kind():
    from umust_hf.evaluation.ser import ser_by_kind, token_kind

    assert [token_kind(t) for t in ("C4", "sharp", "quarter", "dot", "3in2", "measure", "rest", "clef:G2", "staff:1")] == [
        "pitch", "pitch", "duration", "duration", "duration", "structure", "structure", "structure", "structure"]
    gold = "measure clef:G2 quarter C4 quarter D4 half E4"
    pitch_wrong = "measure clef:G2 quarter C4 quarter F4 half E4"
    by_kind = ser_by_kind([gold], [pitch_wrong])
    assert by_kind == {"pitch": pytest.approx(100 / 3), "duration": 0.0, "structure": 0.0}
    duration_wrong = "measure clef:G2 eighth C4 quarter D4 half E4 dot"
    assert ser_by_kind([gold], [duration_wrong]) == {"pitch": 0.0, "duration": pytest.approx(200 / 3), "structure": 0.0}
