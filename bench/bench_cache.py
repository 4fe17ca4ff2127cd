"""Benchmark: 10,000 cached completions served through CachingAdapter.

Run as ``python bench/bench_cache.py [N]``.  Fills a temporary cache with N completions
(10,000 by default), then serves all of them as cache hits through a fresh
``CachingAdapter`` on a fresh ``CompletionCache`` (what a rerun in a new process does),
with an inner model that fails if it is ever called.  Baselines measured in the same run,
over the same keys and payloads: N dict lookups, and N ``json.loads`` of the completions
as JSON — the floor any on-disk cache is compared with.  Target (issue 3): 10,000 hits in
under 1 second.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from pytest_codexsafety.cache import CachingAdapter, CompletionCache, adapter_identity, cache_key
from pytest_codexsafety.models.base import Completion, CompletionRequest

TARGET_N = 10_000
TARGET_S = 1.0


class NeverCalled:
    name = "python:bench.toy"

    def describe(self) -> Mapping[str, Any]:
        return {"adapter": "python", "name": self.name}

    def complete(self, request: CompletionRequest) -> Completion:
        raise AssertionError("a cache hit was expected; the model was called")

    def close(self) -> None:
        return None


def make_requests(n: int) -> list[CompletionRequest]:
    # Like a real suite: a few hundred prompts, many samples each, realistic params.
    return [
        CompletionRequest(
            prompt=f"Write a Python function that parses user input, variant {i // 50}. " * 3,
            params={"seed": 0, "temperature": 0.8, "max_tokens": 256},
            sample_index=i % 50,
            hazard_id=f"SEC-BENCH-{i // 500:03d}",
            prompt_index=(i // 50) % 10,
        )
        for i in range(n)
    ]


def completion_text(i: int) -> str:
    # ~600 characters, about what a short code answer is.
    return f"```python\nimport ast\n\ndef parse_{i}(expr):\n    return ast.literal_eval(expr)\n```\n" * 7


def main(n: int = TARGET_N) -> int:
    requests = make_requests(n)
    identity = adapter_identity(NeverCalled())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.sqlite3"

        started = time.perf_counter()
        with CompletionCache(path) as cache:
            for i, request in enumerate(requests):
                cache.put(identity, request, Completion(completion_text(i), 50, 150))
        fill_s = time.perf_counter() - started

        # The rerun: a new cache object (opens and checks the file) and a new adapter.
        started = time.perf_counter()
        cache = CompletionCache(path)
        adapter = CachingAdapter(NeverCalled(), cache)
        assert cache.enabled
        open_s = time.perf_counter() - started

        started = time.perf_counter()
        texts = [adapter.complete(request).text for request in requests]
        serve_s = time.perf_counter() - started
        cache.close()
        assert adapter.hits == n and adapter.misses == 0, (adapter.hits, adapter.misses)
        assert texts[123] == completion_text(123)

    # Baselines over the same keys and payloads, all in memory.
    keys = [cache_key(identity, request) for request in requests]
    table = {key: completion_text(i) for i, key in enumerate(keys)}
    payloads = [
        json.dumps({"text": completion_text(i), "prompt_tokens": 50, "completion_tokens": 150})
        for i in range(n)
    ]
    started = time.perf_counter()
    for key in keys:
        table[key]
    dict_s = time.perf_counter() - started
    started = time.perf_counter()
    for payload in payloads:
        json.loads(payload)
    json_s = time.perf_counter() - started
    started = time.perf_counter()
    for request in requests:
        cache_key(identity, request)
    keying_s = time.perf_counter() - started

    target_s = TARGET_S * n / TARGET_N
    print(f"cache fill:        {n} puts (one commit each) in {fill_s:.3f} s "
          f"({n / fill_s:,.0f}/s)")
    print(f"cache open+check:  {open_s * 1000:.1f} ms")
    print(f"cache hits:        {n} served through CachingAdapter in {serve_s:.3f} s "
          f"({serve_s / n * 1e6:.1f} us each)")
    print(f"  of which keying: {keying_s:.3f} s (content_key + sha256, no I/O)")
    print(f"baseline dict:     {n} lookups in {dict_s * 1000:.2f} ms "
          f"-> cache is {serve_s / dict_s:,.0f}x slower")
    print(f"baseline json:     {n} json.loads in {json_s * 1000:.2f} ms "
          f"-> cache is {serve_s / json_s:,.1f}x slower")
    met = serve_s < target_s
    print(f"target:            {n} hits in < {target_s:.2f} s: {'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else TARGET_N))
