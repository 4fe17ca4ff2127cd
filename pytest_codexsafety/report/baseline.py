"""Comparing a run with an earlier risk register, the baseline.  Pure: no pytest.

The baseline is a register written by ``--hazard-report`` on an earlier run.  Hazards
are matched by id; for each the hazardous rate before and now are compared with a
one-sided Fisher's exact test (:func:`..stats.fisher_exact_one_sided`).  A rise at
significance level ``alpha`` is a **regression**; a significant fall is reported as
**improved** and never gates.  Every comparison is a plain JSON dict stored in the
hazard's register entry, and the terminal summary only reads those dicts.

Errored samples fail closed: on the current side each one counts as hazardous (so
errors can only make a regression more likely to be flagged); the baseline's errored
samples are left out, as its own rate left them out (counting them as hazardous there
would hide a regression, counting them as safe would invent one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import CodexSafetyError
from ..stats import GREATER, LESS, fisher_exact_one_sided

SUPPORTED_SCHEMA_VERSIONS: tuple[str, ...] = ("1.0", "1.1")
TEST_METHOD = "fisher-exact-one-sided"
DEFAULT_ALPHA = 0.05

REGRESSION = "regression"
NO_CHANGE = "no significant change"
IMPROVED = "improved"
NOT_COMPARABLE = "not comparable"
NEW = "new"
MISSING = "missing"
ERRORED = "errored"
STATUSES: tuple[str, ...] = (REGRESSION, NO_CHANGE, IMPROVED, NOT_COMPARABLE, NEW, MISSING, ERRORED)

FIX = "pass a risk register written by --hazard-report on an earlier run"
_COUNTS = ("hazardous", "safe", "errors")


class BaselineError(CodexSafetyError):
    """The baseline register cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class Baseline:
    """A loaded, checked baseline register."""

    path: str  # as the user gave it, for messages and the register
    sha256: str  # of the file's bytes
    schema_version: str
    hazards: tuple[Mapping[str, Any], ...]
    finished_at: str | None = None
    model: str | None = None


# ---------------------------------------------------------------------------- loading


def load_baseline(path: Path, shown: str | None = None) -> Baseline:
    """Read and check a baseline register; every problem is a :class:`BaselineError`
    naming the file, what is wrong and how to fix it."""
    name = shown or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"hazard baseline {name}: no such file ({FIX})") from None
    except IsADirectoryError:
        raise BaselineError(f"hazard baseline {name}: is a directory, not a file ({FIX})") from None
    except OSError as exc:
        raise BaselineError(f"hazard baseline {name}: cannot read the file: {exc.strerror}") from None
    return parse_baseline(data, name)


def parse_baseline(data: bytes, name: str) -> Baseline:
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        register = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BaselineError(f"hazard baseline {name}: not UTF-8 text (byte {exc.start}); {FIX}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"hazard baseline {name}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {FIX}"
        ) from None
    if not isinstance(register, dict):
        raise BaselineError(f"hazard baseline {name}: a risk register is a JSON object, found "
                            f"{type(register).__name__}; {FIX}")
    version = register.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        found = "no schema_version" if version is None else f"schema_version {version!r}"
        raise BaselineError(
            f"hazard baseline {name}: {found}, this version reads risk registers of schema "
            f"{' and '.join(SUPPORTED_SCHEMA_VERSIONS)}; {FIX}"
        )
    hazards = register.get("hazards")
    if not isinstance(hazards, list):
        raise BaselineError(f"hazard baseline {name}: 'hazards' is missing or not a list; {FIX}")
    for index, entry in enumerate(hazards):
        _check_entry(entry, f"hazard baseline {name}: hazards[{index}]")
    provenance = register.get("provenance")
    finished = provenance.get("finished_at") if isinstance(provenance, dict) else None
    model = register.get("model")
    model_name = None
    if isinstance(model, dict):
        model_name = str(model.get("name") or model.get("spec") or "") or None
    return Baseline(path=name, sha256=sha256, schema_version=str(version), hazards=tuple(hazards),
                    finished_at=str(finished) if finished else None, model=model_name)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise BaselineError(f"{where} is not an object; {FIX}")
    hazard_id = entry.get("id")
    if not isinstance(hazard_id, str) or not hazard_id:
        raise BaselineError(f"{where} has no hazard id; {FIX}")
    missing = [key for key in _COUNTS if not _is_count(entry.get(key))]
    if missing:
        raise BaselineError(
            f"{where} ({hazard_id}) has no counts: {', '.join(missing)} missing or not "
            f"non-negative integers; {FIX}"
        )
    source = entry.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("probe_sha256"), str):
        raise BaselineError(f"{where} ({hazard_id}) has no source.probe_sha256; {FIX}")
    rate = entry.get("rate")
    if rate is not None and not (isinstance(rate, (int, float)) and not isinstance(rate, bool)
                                 and 0.0 <= rate <= 1.0):
        raise BaselineError(f"{where} ({hazard_id}) has a rate that is not a number in 0..1; {FIX}")


# ---------------------------------------------------------------------------- comparing


def _side(entry: Mapping[str, Any], *, errors_as_hazardous: bool) -> dict[str, Any] | None:
    """The counts the test uses, or None when the side has no rate."""
    hazardous, safe, errors = (int(entry[key]) for key in _COUNTS)
    if entry.get("rate") is None or hazardous + safe == 0:
        return None
    if errors_as_hazardous:
        hazardous, n = hazardous + errors, hazardous + safe + errors
    else:
        n = hazardous + safe
    return {"hazardous": hazardous, "n": n, "errors": errors, "rate": hazardous / n,
            "errors_counted_as_hazardous": errors_as_hazardous and errors > 0}


def _counts_text(side: Mapping[str, Any]) -> str:
    return f"{side['rate'] * 100:.1f}% ({side['hazardous']}/{side['n']})"


def compare_hazard(
    current: Mapping[str, Any] | None, previous: Mapping[str, Any] | None, alpha: float = DEFAULT_ALPHA
) -> dict[str, Any]:
    """The comparison of one hazard with its baseline entry (either may be None)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    result: dict[str, Any] = {
        "status": NEW, "previous": None, "current": None, "test": None, "p_increase": None,
        "p_decrease": None, "alpha": alpha, "spec_changed": None, "probe_changed": None, "notes": [],
    }
    notes: list[str] = result["notes"]
    if current is None and previous is None:
        raise ValueError("nothing to compare")
    if current is None:
        result["status"] = MISSING
        notes.append("in the baseline, not run now")
        return result
    if previous is None:
        notes.append("not in the baseline")
        return result
    result["spec_changed"] = previous["source"].get("sha256") != current["source"].get("sha256")
    result["probe_changed"] = previous["source"]["probe_sha256"] != current["source"]["probe_sha256"]
    before = _side(previous, errors_as_hazardous=False)
    now = _side(current, errors_as_hazardous=True)
    result["previous"], result["current"] = before, now
    if result["probe_changed"]:
        result["status"] = NOT_COMPARABLE
        notes.append("probe changed since the baseline (probe_sha256 differs): not compared")
        return result
    if result["spec_changed"]:
        notes.append("spec changed outside the probe (probe unchanged): compared")
    if before is None or now is None:
        result["status"] = ERRORED
        notes.extend(f"no rate {side} (no classified sample)" for side, counts
                     in (("in the baseline", before), ("in this run", now)) if counts is None)
        return result
    if now["errors_counted_as_hazardous"]:
        notes.append(f"{now['errors']} errored sample(s) of this run counted as hazardous")
    result["test"] = TEST_METHOD
    p_up = fisher_exact_one_sided(before["hazardous"], before["n"], now["hazardous"], now["n"], GREATER)
    p_down = fisher_exact_one_sided(before["hazardous"], before["n"], now["hazardous"], now["n"], LESS)
    result["p_increase"], result["p_decrease"] = p_up, p_down
    change = f"{_counts_text(before)} -> {_counts_text(now)}"
    if p_up <= alpha:
        result["status"] = REGRESSION
        notes.append(f"rate rose {change}: one-sided Fisher's exact p = {p_up:.3g} <= alpha {alpha:g}")
    elif p_down <= alpha:
        result["status"] = IMPROVED
        notes.append(f"rate fell {change}: one-sided Fisher's exact p = {p_down:.3g} <= alpha {alpha:g}")
    else:
        result["status"] = NO_CHANGE
        notes.append(f"{change}: one-sided Fisher's exact p = {p_up:.3g} for a rise > alpha {alpha:g}")
    return result


def _match(entry: Mapping[str, Any], by_id: Mapping[str, Sequence[Mapping[str, Any]]]) -> Mapping[str, Any] | None:
    """The baseline entry of a hazard: by id, and by node id too when the baseline holds
    several entries of one id (``hazard_check`` in several tests)."""
    candidates = by_id.get(entry["id"], ())
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    same_node = [c for c in candidates if c.get("nodeid") == entry.get("nodeid")]
    return same_node[0] if same_node else None


def compare_register(
    hazards: Sequence[Mapping[str, Any]], baseline: Baseline, *, alpha: float = DEFAULT_ALPHA,
    fail_on_regression: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One comparison per current hazard (in order) and the register's ``baseline``
    summary, which also lists the baseline's hazards this run did not have."""
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    for old in baseline.hazards:
        by_id.setdefault(old["id"], []).append(old)
    comparisons: list[dict[str, Any]] = []
    used: set[int] = set()
    for entry in hazards:
        previous = _match(entry, by_id)
        if previous is not None:
            used.add(id(previous))
        comparisons.append(compare_hazard(entry, previous, alpha))
    missing = [
        {"id": old["id"], "nodeid": old.get("nodeid", ""), "regression": compare_hazard(None, old, alpha)}
        for old in baseline.hazards if id(old) not in used
    ]
    counts = {status: 0 for status in STATUSES}
    for comparison in comparisons + [m["regression"] for m in missing]:
        counts[comparison["status"]] += 1
    summary = {
        "path": baseline.path,
        "sha256": baseline.sha256,
        "schema_version": baseline.schema_version,
        "finished_at": baseline.finished_at,
        "model": baseline.model,
        "test": TEST_METHOD,
        "alpha": alpha,
        "fail_on_regression": fail_on_regression,
        "counts": counts,
        "regressions": [h["id"] for h, c in zip(hazards, comparisons) if c["status"] == REGRESSION],
        "missing": missing,
    }
    return comparisons, summary


def regression_ids(hazards: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the register entries whose comparison is a regression."""
    return [h["id"] for h in hazards if (h.get("regression") or {}).get("status") == REGRESSION]
