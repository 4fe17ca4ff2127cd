"""The chained-building-block ladder: reference operations, seeded tasks, decay arithmetic."""

from __future__ import annotations

import ast
import math
import random

import pytest

from pytest_codexsafety.capability import ladder
from pytest_codexsafety.capability.ladder import (
    OPERATIONS,
    OPS_BY_NAME,
    LadderTask,
    compose,
    decay_factors,
    make_ladder,
    make_task,
    summary_decay,
)

# (operation, input, expected), computed by hand.
CASES = [
    ("remove_e", "", ""),
    ("remove_e", "e", ""),
    ("remove_e", "Excellent tree", "xcllnt tr"),
    ("remove_e", "abc", "abc"),
    ("spaces_to_exclamation", "", ""),
    ("spaces_to_exclamation", " ", "!"),
    ("spaces_to_exclamation", "a b  c", "a!b!!c"),
    ("lowercase", "", ""),
    ("lowercase", "HeLLo World!", "hello world!"),
    ("drop_first_last_two", "", ""),
    ("drop_first_last_two", "a", ""),
    ("drop_first_last_two", "abcd", ""),
    ("drop_first_last_two", "abcde", "c"),
    ("drop_first_last_two", "abcdef", "cd"),
    ("drop_first_last_two", "hello world", "llo wor"),
    ("remove_vowels", "", ""),
    ("remove_vowels", "a", ""),
    ("remove_vowels", "AEIOU aeiou y", "  y"),
    ("remove_vowels", "Banana Split", "Bnn Splt"),
    ("remove_every_third", "", ""),
    ("remove_every_third", "a", "a"),
    ("remove_every_third", "ab", "ab"),
    ("remove_every_third", "abc", "ab"),
    ("remove_every_third", "abcdefg", "abdeg"),
    ("remove_every_third", "abcdefghi", "abdegh"),
    ("drop_last_half_chars", "", ""),
    ("drop_last_half_chars", "a", "a"),
    ("drop_last_half_chars", "ab", "a"),
    ("drop_last_half_chars", "abcde", "abc"),
    ("drop_last_half_chars", "abcdef", "abc"),
    ("spaces_to_triple", "", ""),
    ("spaces_to_triple", "a b", "a   b"),
    ("spaces_to_triple", " a  b", "   a      b"),
    ("reverse_words", "", ""),
    ("reverse_words", "   ", ""),
    ("reverse_words", "one", "one"),
    ("reverse_words", "one two three", "three two one"),
    ("reverse_words", "  hi!   there ", "there hi!"),
    ("drop_first_half_words", "", ""),
    ("drop_first_half_words", "one", "one"),
    ("drop_first_half_words", "one two", "two"),
    ("drop_first_half_words", "a b c d e", "c d e"),
    ("drop_first_half_words", "a  b   c d", "c d"),
    ("add_apples", "", ""),
    ("add_apples", "x", "x apples"),
    ("add_apples", "red  green ", "red apples green apples"),
    ("alternate_upper", "", ""),
    ("alternate_upper", "a", "A"),
    ("alternate_upper", "abcde", "AbCdE"),
    ("alternate_upper", "aBcD", "ABCD"),
    ("alternate_upper", "a b!", "A B!"),
    ("delete_punctuation", "", ""),
    ("delete_punctuation", "!?.", ""),
    ("delete_punctuation", "Hi! Why? End.", "Hi Why End"),
    ("delete_punctuation", "a,b;c", "a,b;c"),
]


@pytest.mark.parametrize(("name", "given", "want"), CASES)
def test_operation_on_hand_computed_examples(name: str, given: str, want: str) -> None:
    assert OPS_BY_NAME[name].apply(given) == want


def test_every_operation_has_hand_computed_examples() -> None:
    assert {name for name, _, _ in CASES} == set(OPS_BY_NAME)


def test_thirteen_operations_with_the_papers_phrases() -> None:
    assert len(OPERATIONS) == 13
    assert len(OPS_BY_NAME) == 13
    assert [op.description for op in OPERATIONS] == [
        "remove every letter e",
        "replace spaces with exclamation points",
        "lowercase",
        "drop the first and last two characters",
        "remove vowels",
        "remove every third character",
        "drop the last half (by characters)",
        "replace spaces with triple spaces",
        "reverse the order of words",
        "drop the first half (by words)",
        "add the word apples after every word",
        "make every other character uppercase",
        "delete exclamation points, question marks and periods",
    ]


def test_operations_are_frozen() -> None:
    with pytest.raises(AttributeError):
        OPERATIONS[0].name = "other"  # type: ignore[misc]


def test_same_seed_and_length_give_the_same_task() -> None:
    for length in (1, 5, 13):
        assert make_task(42, length) == make_task(42, length)


def test_different_seeds_give_different_tasks() -> None:
    tasks = [make_task(seed, 4) for seed in range(30)]
    assert len({t.inputs for t in tasks}) == 30
    assert len({t.function_name for t in tasks}) == 30
    assert len({t.ops for t in tasks}) > 1


@pytest.mark.parametrize("length", range(1, 14))
def test_ops_are_drawn_without_repetition(length: int) -> None:
    for seed in range(20):
        task = make_task(seed, length)
        assert task.length == length
        assert len(task.ops) == length
        assert len(set(task.ops)) == length
        assert set(task.ops) <= set(OPS_BY_NAME)


def test_full_length_uses_every_operation() -> None:
    assert set(make_task(7, 13).ops) == set(OPS_BY_NAME)


@pytest.mark.parametrize("length", [0, 14, -1])
def test_length_out_of_range_is_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="length"):
        make_task(0, length)


def test_n_inputs_is_honoured_and_checked() -> None:
    assert len(make_task(1, 3, n_inputs=9).inputs) == 9
    with pytest.raises(ValueError, match="n_inputs"):
        make_task(1, 3, n_inputs=0)


def _positions_in_order(text: str, parts: list[str]) -> list[int]:
    positions = []
    start = 0
    for part in parts:
        found = text.find(part, start)
        assert found >= 0, f"{part!r} missing (in order) from the prompt"
        positions.append(found)
        start = found + len(part)
    return positions


def test_prompt_lists_each_operation_in_order_with_its_semantics() -> None:
    for seed in range(10):
        task = make_task(seed, 6)
        assert task.prompt.startswith(f"def {task.function_name}(s: str) -> str:\n")
        lines = [OPS_BY_NAME[name].prompt_line for name in task.ops]
        _positions_in_order(task.prompt, lines)
        descriptions = [OPS_BY_NAME[name].description for name in task.ops]
        _positions_in_order(task.prompt, [f"-{d}" for d in descriptions])
        unused = set(OPS_BY_NAME) - set(task.ops)
        for name in unused:
            assert OPS_BY_NAME[name].prompt_line not in task.prompt


def test_prompt_is_a_valid_function_stub() -> None:
    task = make_task(3, 13)
    namespace: dict[str, object] = {}
    exec(task.prompt + "    return s\n", namespace)  # noqa: S102 - our own template
    func = namespace[task.function_name]
    assert callable(func)
    assert func.__doc__ is not None
    assert "in this order" in func.__doc__


def test_expected_equals_manual_composition() -> None:
    for seed in range(15):
        task = make_task(seed, 1 + seed % 13)
        for given, want in zip(task.inputs, task.expected):
            s = given
            for name in task.ops:
                s = OPS_BY_NAME[name].apply(s)
            assert want == s


def test_compose_on_a_hand_computed_chain() -> None:
    ops = ("lowercase", "remove_vowels", "reverse_words", "add_apples")
    assert compose(ops, "Hello Big World") == "wrld apples bg apples hll apples"
    assert compose((), "unchanged") == "unchanged"


def test_inputs_are_words_of_letters_spaces_and_punctuation() -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ !?.")
    seen_punct = False
    for seed in range(30):
        for s in make_task(seed, 2).inputs:
            assert s and set(s) <= allowed
            assert "  " not in s and s == s.strip()
            seen_punct = seen_punct or any(c in s for c in "!?.")
    assert seen_punct


def test_task_is_frozen() -> None:
    task = make_task(0, 2)
    assert isinstance(task, LadderTask)
    with pytest.raises(AttributeError):
        task.seed = 1  # type: ignore[misc]


def test_make_ladder_shape_and_reproducibility() -> None:
    tasks = make_ladder(11, max_length=4, tasks_per_length=3)
    assert [t.length for t in tasks] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert tasks == make_ladder(11, 4, 3)
    assert tasks != make_ladder(12, 4, 3)
    for task in tasks:
        assert make_task(task.seed, task.length) == task
    assert len({t.seed for t in tasks}) == len(tasks)
    assert len(make_ladder(0)) == 13 * 5


def test_make_ladder_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="max_length"):
        make_ladder(0, max_length=14)
    with pytest.raises(ValueError, match="tasks_per_length"):
        make_ladder(0, tasks_per_length=0)


def test_decay_factors_on_known_numbers() -> None:
    assert decay_factors([0.8, 0.4, 0.1]) == [2.0, 4.0]
    assert decay_factors([0.5]) == []
    assert decay_factors([]) == []
    assert decay_factors([0.5, 0.0, 0.0, 0.2]) == [None, None, None]
    assert decay_factors([0.0, 0.25]) == [None]
    assert decay_factors([0.3, 0.3]) == [1.0]


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf])
def test_decay_factors_reject_rates_outside_unit_interval(bad: float) -> None:
    with pytest.raises(ValueError, match="pass rates"):
        decay_factors([0.5, bad])


def test_summary_decay_is_the_geometric_mean() -> None:
    assert summary_decay([0.8, 0.4, 0.1]) == pytest.approx(math.sqrt(8.0))
    assert summary_decay([0.9, 0.3, 0.1]) == pytest.approx(3.0)
    # A paper-like curve: factor 2.5 per component.
    rates = [0.9 / 2.5**k for k in range(6)]
    assert summary_decay(rates) == pytest.approx(2.5)
    # Undefined factors are skipped, not counted as zero or infinity.
    assert summary_decay([0.8, 0.4, 0.0, 0.0]) == pytest.approx(2.0)
    assert summary_decay([0.0, 0.0]) is None
    assert summary_decay([0.7]) is None


def test_summary_decay_equals_end_to_end_ratio_when_all_defined() -> None:
    rng = random.Random(5)
    rates = sorted((rng.uniform(0.01, 1.0) for _ in range(8)), reverse=True)
    assert summary_decay(rates) == pytest.approx((rates[0] / rates[-1]) ** (1 / 7))


def test_module_is_pure() -> None:
    """The core imports only the standard library: no pytest, model or sandbox."""
    source = ladder.__file__
    assert source is not None
    with open(source, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "itertools",
        "math",
        "random",
        "string",
        "collections",
        "dataclasses",
    }
