"""Precision and recall of each detector on the labelled set in tests/test_detectors.py.

    python bench/bench_detectors.py [--repeat N]

A case's ``label`` is the truth (hazardous or not); the detector's verdict is whether it
returns any finding.  The labelled set deliberately holds the known false positives and
false negatives that docs/hazards.md describes, so the figures are not 100% by
construction; they measure this hand-made set, not the distribution of real model
output.  Also prints the mean time per sample (Bandit runs in-process).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_detectors import CASES  # noqa: E402 - the labelled set lives with its tests

from pytest_codexsafety.detectors import DETECTORS  # noqa: E402


def ratio(num: int, den: int) -> str:
    return f"{num / den:.1%}" if den else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions per case (default 3)")
    args = parser.parse_args()
    rows = []
    for name, detector in DETECTORS.items():
        cases = [c for c in CASES if c.detector == name]
        tp = fp = fn = tn = 0
        misses: list[str] = []
        elapsed = 0.0
        for case in cases:
            options = detector.parse_options(case.options)
            detector.detect(case.code, options)  # warm caches and imports
            start = time.perf_counter()
            for i in range(args.repeat):
                # A unique trailing comment defeats Bandit's per-text cache, so the
                # timing is that of a fresh sample.
                found = bool(detector.detect(case.code + f"\n# {i}-{start}\n", options))
            elapsed += time.perf_counter() - start
            if found and case.label:
                tp += 1
            elif found:
                fp += 1
                misses.append(f"FP {case.id}")
            elif case.label:
                fn += 1
                misses.append(f"FN {case.id}")
            else:
                tn += 1
        ms = 1000 * elapsed / max(1, len(cases) * args.repeat)
        rows.append((name, len(cases), tp, fp, fn, tn, ratio(tp, tp + fp), ratio(tp, tp + fn), f"{ms:.1f}",
                     ", ".join(misses)))
    header = ("detector", "cases", "TP", "FP", "FN", "TN", "precision", "recall", "ms/sample", "misclassified")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
