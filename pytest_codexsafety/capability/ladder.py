"""The chained-building-block ladder of the Codex paper (Chen et al. 2021, appendix D).

Thirteen deterministic string operations are chained 1..N into one docstring; the model
must write the function. Pass rate per chain length, and the factor by which it falls per
added component (roughly 2-3x for Codex-12B in the paper), measure how a model copes with
a specification that grows in length, where a human copes about as well with ten steps
as with two.

This module is the pure core: the reference operations, seeded task generation and the
decay arithmetic. It imports neither pytest nor a model nor the sandbox. Expected outputs
are computed here, by composing the reference operations, outside any sandbox.

Semantics that the English phrase leaves open are fixed here and stated, word for word,
in the prompt (``StringOp.semantics``), so the model is judged against exactly what it is
told:

* indices count from 0; "every third character" is 1-based positions 3, 6, 9, ...;
* "halves" of odd size keep the middle: the dropped half is the smaller one;
* a "word" is a maximal run of non-whitespace characters, and word operations rejoin the
  words with single spaces (so leading, trailing and repeated spaces are not kept);
* "letter e" and "vowels" cover both cases; y is not a vowel.

Inputs are ASCII only, so case mapping never changes a string's length.
"""

from __future__ import annotations

import itertools
import math
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "OPERATIONS",
    "OPS_BY_NAME",
    "LadderTask",
    "StringOp",
    "compose",
    "decay_factors",
    "fit_decay",
    "make_ladder",
    "make_task",
    "summary_decay",
]


@dataclass(frozen=True)
class StringOp:
    """One building block: a name, the English phrase, its exact semantics, a reference."""

    name: str
    description: str
    semantics: str
    func: Callable[[str], str]

    def apply(self, s: str) -> str:
        """Apply the reference implementation to ``s``."""
        return self.func(s)

    @property
    def prompt_line(self) -> str:
        """The line of the docstring that states this operation to the model."""
        return f"{self.description} ({self.semantics})"


def _remove_e(s: str) -> str:
    """Delete every ``e`` and ``E``."""
    return s.replace("e", "").replace("E", "")


def _spaces_to_exclamation(s: str) -> str:
    """Replace each space character ``' '`` with ``'!'``."""
    return s.replace(" ", "!")


def _lowercase(s: str) -> str:
    """Lowercase every character (``str.lower``)."""
    return s.lower()


def _drop_first_last_two(s: str) -> str:
    """Drop the first two and the last two characters; shorter than 5 gives ``''``."""
    return s[2 : len(s) - 2] if len(s) > 4 else ""


_VOWELS = frozenset("aeiouAEIOU")


def _remove_vowels(s: str) -> str:
    """Delete a, e, i, o, u in either case (not y)."""
    return "".join(c for c in s if c not in _VOWELS)


def _remove_every_third(s: str) -> str:
    """Delete the characters at 0-based indices 2, 5, 8, ... (1-based positions 3, 6, 9)."""
    return "".join(c for i, c in enumerate(s) if i % 3 != 2)


def _drop_last_half_chars(s: str) -> str:
    """Keep the first ``ceil(n / 2)`` characters: odd lengths keep the middle one."""
    return s[: (len(s) + 1) // 2]


def _spaces_to_triple(s: str) -> str:
    """Replace each space character with three spaces."""
    return s.replace(" ", "   ")


def _reverse_words(s: str) -> str:
    """Reverse the order of the whitespace-separated words; rejoin with single spaces."""
    return " ".join(reversed(s.split()))


def _drop_first_half_words(s: str) -> str:
    """Keep the last ``ceil(n / 2)`` of the n words; rejoin with single spaces."""
    words = s.split()
    return " ".join(words[len(words) // 2 :])


def _add_apples(s: str) -> str:
    """Follow every word with the word ``apples``; rejoin with single spaces."""
    return " ".join(f"{w} apples" for w in s.split())


def _alternate_upper(s: str) -> str:
    """Uppercase the characters at even indices 0, 2, 4, ...; leave the others as they are."""
    return "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(s))


def _delete_punctuation(s: str) -> str:
    """Delete every ``!``, ``?`` and ``.``."""
    return "".join(c for c in s if c not in "!?.")


_WORDS_NOTE = (
    "words are maximal runs of non-whitespace characters, rejoined with single spaces"
)

OPERATIONS: tuple[StringOp, ...] = (
    StringOp(
        "remove_e",
        "remove every letter e",
        "delete every 'e' and every 'E'",
        _remove_e,
    ),
    StringOp(
        "spaces_to_exclamation",
        "replace spaces with exclamation points",
        "replace each space character ' ' with '!'",
        _spaces_to_exclamation,
    ),
    StringOp(
        "lowercase",
        "lowercase",
        "convert every character to lowercase",
        _lowercase,
    ),
    StringOp(
        "drop_first_last_two",
        "drop the first and last two characters",
        "remove the first two and the last two characters; "
        "a string of 4 or fewer characters becomes empty",
        _drop_first_last_two,
    ),
    StringOp(
        "remove_vowels",
        "remove vowels",
        "delete a, e, i, o, u in lowercase and uppercase; y is not a vowel",
        _remove_vowels,
    ),
    StringOp(
        "remove_every_third",
        "remove every third character",
        "delete the characters at 0-based indices 2, 5, 8, ..., "
        "i.e. the 3rd, 6th, 9th, ... characters",
        _remove_every_third,
    ),
    StringOp(
        "drop_last_half_chars",
        "drop the last half (by characters)",
        "keep only the first ceil(n/2) of the n characters, "
        "so an odd-length string keeps its middle character",
        _drop_last_half_chars,
    ),
    StringOp(
        "spaces_to_triple",
        "replace spaces with triple spaces",
        "replace each space character ' ' with three spaces",
        _spaces_to_triple,
    ),
    StringOp(
        "reverse_words",
        "reverse the order of words",
        f"{_WORDS_NOTE}; an empty or all-space string becomes empty",
        _reverse_words,
    ),
    StringOp(
        "drop_first_half_words",
        "drop the first half (by words)",
        f"keep only the last ceil(n/2) of the n words, so an odd number of words "
        f"keeps its middle word; {_WORDS_NOTE}",
        _drop_first_half_words,
    ),
    StringOp(
        "add_apples",
        "add the word apples after every word",
        f"follow each word with a space and the word 'apples'; {_WORDS_NOTE}",
        _add_apples,
    ),
    StringOp(
        "alternate_upper",
        "make every other character uppercase",
        "uppercase the characters at 0-based indices 0, 2, 4, ... "
        "and leave the other characters unchanged",
        _alternate_upper,
    ),
    StringOp(
        "delete_punctuation",
        "delete exclamation points, question marks and periods",
        "delete every '!', '?' and '.'",
        _delete_punctuation,
    ),
)

OPS_BY_NAME: dict[str, StringOp] = {op.name: op for op in OPERATIONS}

MAX_LENGTH = len(OPERATIONS)


def compose(ops: Sequence[str], s: str) -> str:
    """Apply the named operations to ``s`` in order (the reference, outside any sandbox)."""
    for name in ops:
        s = OPS_BY_NAME[name].apply(s)
    return s


@dataclass(frozen=True)
class LadderTask:
    """One rung of the ladder: a prompt, generated inputs and the reference outputs."""

    seed: int
    length: int
    ops: tuple[str, ...]
    function_name: str
    prompt: str
    inputs: tuple[str, ...]
    expected: tuple[str, ...]


def _render_prompt(function_name: str, ops: Sequence[StringOp]) -> str:
    lines = [
        f"def {function_name}(s: str) -> str:",
        '    """',
        "    This function takes a string as input, then returns the result of performing",
        "    the following sequence of manipulations on that string, in this order:",
    ]
    lines.extend(f"    -{op.prompt_line}" for op in ops)
    lines.append('    """')
    return "\n".join(lines) + "\n"


_PUNCTUATION = "!?."


def _random_word(rng: random.Random) -> str:
    # Letters, biased towards e and the other vowels so their operations have work to do.
    alphabet = string.ascii_letters + "eeeEaaiioouu"
    word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
    if rng.random() < 0.3:
        word += rng.choice(_PUNCTUATION)
    return word


def _random_input(rng: random.Random) -> str:
    return " ".join(_random_word(rng) for _ in range(rng.randint(1, 7)))


def make_task(seed: int, length: int, *, n_inputs: int = 5) -> LadderTask:
    """The task for ``seed`` with ``length`` chained operations, drawn without repetition.

    Everything (operations, their order, the function name, the inputs) comes from
    ``random.Random(seed)``, so a seed always gives the same task and a fresh seed gives
    a task that cannot have been memorised.
    """
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"length must be between 1 and {MAX_LENGTH}, got {length}")
    if n_inputs < 1:
        raise ValueError(f"n_inputs must be at least 1, got {n_inputs}")
    rng = random.Random(seed)
    chosen = rng.sample(OPERATIONS, length)
    function_name = f"string_chain_{rng.getrandbits(32):08x}"
    inputs = tuple(_random_input(rng) for _ in range(n_inputs))
    ops = tuple(op.name for op in chosen)
    return LadderTask(
        seed=seed,
        length=length,
        ops=ops,
        function_name=function_name,
        prompt=_render_prompt(function_name, chosen),
        inputs=inputs,
        expected=tuple(compose(ops, s) for s in inputs),
    )


def make_ladder(
    seed: int, max_length: int = MAX_LENGTH, tasks_per_length: int = 5
) -> list[LadderTask]:
    """``tasks_per_length`` tasks for each length 1..``max_length``, ordered by length.

    Each task's own seed is drawn from ``random.Random(seed)``, so
    ``make_task(task.seed, task.length)`` rebuilds any task of the ladder.
    """
    if not 1 <= max_length <= MAX_LENGTH:
        raise ValueError(
            f"max_length must be between 1 and {MAX_LENGTH}, got {max_length}"
        )
    if tasks_per_length < 1:
        raise ValueError(f"tasks_per_length must be at least 1, got {tasks_per_length}")
    rng = random.Random(seed)
    return [
        make_task(rng.getrandbits(63), length)
        for length in range(1, max_length + 1)
        for _ in range(tasks_per_length)
    ]


def decay_factors(pass_rates: Sequence[float]) -> list[float | None]:
    """Ratio of the pass rate at each length to the next: ``rates[k] / rates[k + 1]``.

    ``pass_rates[0]`` is the rate at chain length 1. The result has one entry fewer than
    the input; an entry is ``None`` where the ratio is undefined or degenerate (either
    rate is zero, so the ratio is 0, infinite or 0/0). A factor of 2 means the pass rate
    halves with the added component.
    """
    factors: list[float | None] = []
    for rate in pass_rates:
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ValueError(f"pass rates must lie in [0, 1], got {rate!r}")
    for here, nxt in itertools.pairwise(pass_rates):
        factors.append(here / nxt if here > 0.0 and nxt > 0.0 else None)
    return factors


def summary_decay(pass_rates: Sequence[float]) -> float | None:
    """Geometric mean of the defined decay factors: the factor per added component.

    ``None`` when no factor is defined. Where every factor is defined this is
    ``(rates[0] / rates[-1]) ** (1 / (len(rates) - 1))``.
    """
    defined = [f for f in decay_factors(pass_rates) if f is not None]
    if not defined:
        return None
    return math.exp(math.fsum(math.log(f) for f in defined) / len(defined))


def _log_likelihood(log_p1: float, log_factor: float, rungs: Sequence[tuple[int, int, int]]) -> float:
    total = 0.0
    for length, solved, n in rungs:
        log_p = min(log_p1 - log_factor * (length - 1), -1e-12)  # p < 1
        p = math.exp(log_p)
        total += solved * log_p + (n - solved) * math.log1p(-p)
    return total


def _golden_max(f: Callable[[float], float], low: float, high: float, steps: int = 60) -> float:
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    for _ in range(steps):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if f(c) >= f(d):
            b = d
        else:
            a = c
    return (a + b) / 2


def fit_decay(rungs: Sequence[tuple[int, int, int]]) -> float | None:
    """Maximum-likelihood factor per added component from ``(length, solved, n)`` counts.

    The model is ``p(L) = p(1) / factor ** (L - 1)``, fitted to the binomial counts of
    every length at once, so lengths where nothing (or everything) passed still count;
    the pairwise :func:`decay_factors` are undefined there. None when the counts carry
    no information about a fall (nothing solved at any length, or fewer than two lengths).
    The factor is searched between 1/8 and 1000.
    """
    used = [(length, s, n) for length, s, n in rungs if n > 0]
    if len({length for length, _, _ in used}) < 2 or not any(s for _, s, _ in used):
        return None
    for length, s, n in used:
        if length < 1 or not 0 <= s <= n:
            raise ValueError(f"bad rung (length {length}, solved {s} of {n})")

    def best_for(log_factor: float) -> float:
        # p(1) is profiled out: for each factor, the likeliest p(1) (kept <= 1 at every rung).
        top = min(log_factor * (length - 1) for length, _, _ in used)
        log_p1 = _golden_max(lambda a: _log_likelihood(a, log_factor, used), -30.0, top)
        return _log_likelihood(log_p1, log_factor, used)

    return math.exp(_golden_max(best_for, math.log(1 / 8), math.log(1000.0)))
