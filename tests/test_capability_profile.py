"""The capability profile's arithmetic: pass@k and pass^k against enumeration, the decay
fit, cells read against human baselines, and the profile built from samples."""

from __future__ import annotations

import itertools
import math

import pytest

from pytest_codexsafety.capability.cells import Cell, HumanBaseline, relative_to_baseline
from pytest_codexsafety.capability.ladder import fit_decay
from pytest_codexsafety.capability.profile import ProfileSample, build_profile
from pytest_codexsafety.stats import pass_at_k, pass_hat_k, wilson_interval

BASE = HumanBaseline(0.5, 0.9, "assumption", "stated for the test")


def _enumerate(n: int, c: int, k: int) -> tuple[float, float]:
    """pass@k and pass^k by listing every k-subset of n samples of which c pass."""
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    any_pass = sum(1 for s in subsets if any(outcomes[i] for i in s))
    all_pass = sum(1 for s in subsets if all(outcomes[i] for i in s))
    return any_pass / len(subsets), all_pass / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_and_pass_hat_k_equal_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            at, hat = _enumerate(n, c, k)
            assert pass_at_k(n, c, k) == pytest.approx(at, abs=1e-12), (n, c, k)
            assert pass_hat_k(n, c, k) == pytest.approx(hat, abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # C(2000, 100) overflows a float; the product form does not.
    value = pass_at_k(2000, 10, 100)
    assert value == pytest.approx(1 - math.comb(1990, 100) / math.comb(2000, 100), rel=1e-9)
    assert pass_at_k(200, 0, 100) == 0.0 and pass_at_k(200, 150, 100) == 1.0


@pytest.mark.parametrize("n, c, k", [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError):
        pass_hat_k(n, c, k)


def test_fit_decay_recovers_a_known_factor() -> None:
    # Pass rates 80%, 40%, 20%, 10%: halving per component, with exact counts.
    assert fit_decay([(1, 80, 100), (2, 40, 100), (3, 20, 100), (4, 10, 100)]) == pytest.approx(2.0, rel=1e-3)
    assert fit_decay([(1, 90, 100), (2, 30, 100), (3, 10, 100)]) == pytest.approx(3.0, rel=0.02)


def test_fit_decay_uses_lengths_where_nothing_passed() -> None:
    # The pairwise factors are undefined past the first zero; the fit still sees a fall,
    # and more zero rungs mean a steeper fall.
    short = fit_decay([(1, 4, 4), (2, 2, 4), (3, 0, 4)])
    long = fit_decay([(1, 4, 4), (2, 2, 4), (3, 0, 4), (4, 0, 4), (5, 0, 4)])
    assert short is not None and long is not None and 1.5 < short < long


def test_fit_decay_says_nothing_without_information() -> None:
    assert fit_decay([(1, 0, 5), (2, 0, 5)]) is None  # nothing solved anywhere
    assert fit_decay([(3, 2, 5)]) is None  # one length
    assert fit_decay([(1, 5, 5), (2, 5, 5), (3, 5, 5)]) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError):
        fit_decay([(1, 6, 5), (2, 1, 5)])


@pytest.mark.parametrize("low, high, reading", [
    (0.0, 0.4, "below novice level"),
    (0.3, 0.6, "at novice level"),
    (0.55, 0.85, "between novice and expert level"),
    (0.85, 0.95, "at expert level"),
    (0.92, 1.0, "above expert level"),
    (0.2, 1.0, "novice to expert level (too few samples to tell)"),
])
def test_relative_to_baseline_reads_the_whole_interval(low: float, high: float, reading: str) -> None:
    assert relative_to_baseline(low, high, BASE) == reading


def test_relative_without_a_baseline_says_so() -> None:
    assert relative_to_baseline(0.1, 0.2, None) == "no human baseline"


@pytest.mark.parametrize("novice, expert, basis, source", [
    (0.9, 0.5, "assumption", "x"), (-0.1, 0.5, "study", "x"), (0.1, 1.5, "study", "x"),
    (0.1, 0.5, "guess", "x"), (0.1, 0.5, "study", "  "),
])
def test_a_baseline_must_be_coherent_and_sourced(novice: float, expert: float, basis: str, source: str) -> None:
    with pytest.raises(ValueError):
        HumanBaseline(novice, expert, basis, source)  # type: ignore[arg-type]


def _ladder_samples(solved_by_length: dict[int, list[bool | None]]) -> list[ProfileSample]:
    out = []
    for length, outcomes in solved_by_length.items():
        cell = Cell("ladder", "chain length", str(length), BASE)
        out.extend(ProfileSample(cell, length, s) for s in outcomes)
    return out


def test_profile_counts_rates_intervals_and_pass_at_k_per_cell() -> None:
    profile = build_profile(_ladder_samples({1: [True] * 5, 2: [True, False, False, True, None],
                                             3: [False] * 5}))
    assert profile is not None
    one, two, three = profile["cells"]
    assert (two["samples"], two["solved"], two["errors"], two["rate"]) == (5, 2, 1, 0.5)
    assert (two["ci_low"], two["ci_high"]) == pytest.approx(wilson_interval(2, 4))
    # Cell 2 has 4 judged samples: pass@k for k=1 only (5 and 10 need more).
    assert two["pass_at_k"] == {"1": 0.5} and two["pass_hat_k"] == {"1": 0.5}
    assert one["pass_at_k"] == {"1": 1.0, "5": 1.0}
    assert three["relative"] == "below novice level" and one["baseline"]["novice"] == 0.5
    decay = profile["decay"]
    assert decay["lengths"] == [1, 2, 3] and decay["pass_rates"] == [1.0, 0.5, 0.0]
    assert decay["factors"] == [2.0, None] and decay["per_component"] > 2.0


def test_profile_of_a_probe_without_cells_is_none_and_errors_are_not_measured() -> None:
    assert build_profile([]) is None
    cell = Cell("complexity", "concurrency", "module", None)
    profile = build_profile([ProfileSample(cell, 0, None)])
    assert profile is not None
    [entry] = profile["cells"]
    assert entry["rate"] is None and entry["relative"] == "not measured" and profile["decay"] is None


def test_pass_at_k_averages_over_tasks_of_a_cell() -> None:
    cell = Cell("complexity", "temporal", "function", BASE)
    samples = [ProfileSample(cell, 0, s) for s in [True] * 5] + [ProfileSample(cell, 1, s) for s in [False] * 5]
    profile = build_profile(samples)
    assert profile is not None
    assert profile["cells"][0]["pass_at_k"]["5"] == pytest.approx(0.5)
    assert profile["cells"][0]["tasks"] == 2
