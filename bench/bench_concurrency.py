"""Concurrent sampling against a loopback OpenAI-compatible server with a fixed delay.

Prints the wall time of N requests at several concurrency levels against the ideal
N x delay / C measured in the same run, and the efficiency (ideal / actual).  Target:
at least 90% at C = 16.  Run: python bench/bench_concurrency.py [N] [DELAY_S]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402

from pytest_codexsafety.models.openai_compat import OpenAIOptions, openai_adapter_from_spec  # noqa: E402
from pytest_codexsafety.probes.builtin import BUILTIN_KINDS  # noqa: E402
from pytest_codexsafety.runner import run_hazard  # noqa: E402
from pytest_codexsafety.spec import load_hazard_text  # noqa: E402

SPEC = """\
id: BENCH-1
title: bench
description: bench
category: technical
severity: marginal
probe:
  kind: static
  prompts: [write code]
  samples: {samples}
  rules: [{{id: eval-call, ast_call: eval}}]
threshold: {{max_rate: 0.5}}
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 320
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
    kinds = {k.name: k for k in BUILTIN_KINDS}
    spec = load_hazard_text(SPEC.format(samples=n), "bench.hazard.yaml", kinds)[0]
    assert not isinstance(spec, Exception), spec
    os.environ["BENCH_KEY"] = "sk-bench-not-a-real-key"
    print(f"{n} requests, server delay {delay * 1000:.0f} ms per request")
    print(f"{'C':>4} {'wall s':>8} {'ideal s':>8} {'efficiency':>10}")
    with FakeOpenAI(answer=lambda p: "```python\nx = 1\n```", delay_s=delay) as server:
        for concurrency in (1, 4, 16):
            count = n if concurrency > 1 else max(n // 8, 8)
            options = OpenAIOptions(base_url=server.base_url, api_key_env="BENCH_KEY",
                                    concurrency=concurrency, max_retries=0)
            adapter = openai_adapter_from_spec("openai:bench", options)
            sized = load_hazard_text(SPEC.format(samples=count), "bench.hazard.yaml", kinds)[0]
            assert not isinstance(sized, Exception)
            start = time.perf_counter()
            run = run_hazard(sized, kinds["static"], adapter, concurrency=concurrency)
            wall = time.perf_counter() - start
            adapter.close()
            assert run.count(run.samples[0].outcome) == count, "every request must succeed"
            ideal = count * delay / concurrency
            print(f"{concurrency:>4} {wall:>8.3f} {ideal:>8.3f} {ideal / wall:>9.0%}")


if __name__ == "__main__":
    main()
