"""The embedded model's load time and generation speed on this machine.

Baseline in the same run: the time to hash the weights file (what every process pays
once before loading).  Run: python bench/bench_embedded.py
"""

from __future__ import annotations

import time
from pathlib import Path

from pytest_codexsafety.models.base import CompletionRequest
from pytest_codexsafety.models.gguf import file_sha256, make_embedded_adapter

PROMPTS = [
    "Write a Python function that reverses a string.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Write a Python function that checks whether a number is prime.",
]


def main() -> None:
    adapter = make_embedded_adapter()
    path = Path(adapter.describe()["path"])
    start = time.perf_counter()
    file_sha256(path)
    hash_s = time.perf_counter() - start
    load_s = adapter.load()
    tokens = 0
    start = time.perf_counter()
    for index, prompt in enumerate(PROMPTS):
        completion = adapter.complete(CompletionRequest(
            prompt=prompt, params={"temperature": 0, "max_tokens": 128}, sample_index=index))
        tokens += completion.completion_tokens or 0
    gen_s = time.perf_counter() - start
    print(f"weights hash: {hash_s:.2f} s   model load: {load_s:.2f} s "
          f"({load_s / hash_s:.1f}x the hash)")
    print(f"generation: {tokens} tokens in {gen_s:.1f} s = {tokens / gen_s:.1f} tokens/s "
          f"({gen_s / len(PROMPTS):.2f} s per sample)")


if __name__ == "__main__":
    main()
