"""The on-disk completion cache: hits, identity, refresh, concurrency, durability, corruption."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Mapping

import pytest

from pytest_codexsafety.cache import (
    GITIGNORE_TEXT,
    CachingAdapter,
    CompletionCache,
    adapter_identity,
    cache_key,
    default_cache_path,
)
from pytest_codexsafety.errors import ModelError
from pytest_codexsafety.models.base import Completion, CompletionRequest, ModelAdapter

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL / fork")


class CountingModel:
    """A deterministic toy model that counts how often it is really asked."""

    def __init__(self, name: str = "toy", *, fail: bool = False, **described: Any) -> None:
        self.name = f"python:{name}"
        self.calls = 0
        self.closed = False
        self.fail = fail
        self._described = described
        self._lock = threading.Lock()

    def describe(self) -> Mapping[str, Any]:
        return {"adapter": "python", "name": self.name, **self._described}

    def complete(self, request: CompletionRequest) -> Completion:
        with self._lock:
            self.calls += 1
        if self.fail:
            raise ModelError("backend unavailable")
        text = f"{self.name}|{request.prompt}|{request.sample_index}|{dict(request.params)}"
        return Completion(text, prompt_tokens=7, completion_tokens=len(text),
                          metadata={"finish_reason": "stop", "secret-ish": "never stored"})

    def close(self) -> None:
        self.closed = True


class ExplodingModel(CountingModel):
    def complete(self, request: CompletionRequest) -> Completion:
        raise AssertionError(f"the model was called for {request}")


def req(i: int = 0, *, prompt: str = "Write a calculator", seed: int = 0, **params: Any) -> CompletionRequest:
    return CompletionRequest(prompt=f"{prompt} {i // 10}", params={"seed": seed, "temperature": 0.7, **params},
                             sample_index=i % 10, hazard_id="SEC-EVAL-001", prompt_index=i // 10)


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return default_cache_path(tmp_path)


@pytest.fixture
def cache(cache_path: Path) -> Any:
    with CompletionCache(cache_path) as opened:
        yield opened


# ---- basics --------------------------------------------------------------------------


def test_default_path_and_lazy_directory_with_gitignore(tmp_path: Path) -> None:
    path = default_cache_path(tmp_path)
    assert path == tmp_path / ".codexsafety" / "cache.sqlite3"
    cache = CompletionCache(path)
    assert not path.parent.exists()  # nothing happens before first use
    assert len(cache) == 0
    assert (path.parent / ".gitignore").read_text() == GITIGNORE_TEXT
    assert cache.warnings == []
    cache.close()


def test_existing_directory_gets_no_gitignore(tmp_path: Path) -> None:
    with CompletionCache(tmp_path / "cache.sqlite3") as cache:
        assert len(cache) == 0
    assert not (tmp_path / ".gitignore").exists()


def test_miss_then_hit(cache: CompletionCache) -> None:
    model = CountingModel()
    adapter = CachingAdapter(model, cache)
    first = adapter.complete(req(3))
    second = adapter.complete(req(3))
    assert model.calls == 1
    assert (adapter.hits, adapter.misses) == (1, 1)
    assert not first.cached and second.cached
    assert second.text == first.text
    assert (second.prompt_tokens, second.completion_tokens) == (7, len(first.text))
    assert "secret-ish" not in second.metadata  # adapter metadata is never stored
    assert len(cache) == 1


def test_second_run_on_the_same_file_makes_zero_model_calls(cache_path: Path) -> None:
    requests = [req(i) for i in range(40)]
    with CompletionCache(cache_path) as cache:
        first_run = [CachingAdapter(CountingModel(), cache).complete(r).text for r in requests]
    # A fresh process would see just the file: a new cache object and a new adapter whose
    # model fails the test if it is ever asked.
    with CompletionCache(cache_path) as cache:
        adapter = CachingAdapter(ExplodingModel(), cache)
        second_run = [adapter.complete(r) for r in requests]
    assert [c.text for c in second_run] == first_run
    assert all(c.cached for c in second_run)
    assert (adapter.hits, adapter.misses) == (40, 0)


@pytest.mark.parametrize(
    "model_b, request_b",
    [
        (CountingModel("other-model"), req(1)),
        (CountingModel("toy", temperature_override="x"), req(1)),  # describe() differs
        (CountingModel("toy"), req(1, seed=1)),
        (CountingModel("toy"), req(1, max_tokens=64)),
        (CountingModel("toy"), req(2)),  # sample index
        (CountingModel("toy"), req(1, prompt="Write a parser")),
    ],
    ids=["model-name", "describe", "seed", "params", "sample-index", "prompt"],
)
def test_identity_and_request_separate_entries(
    cache: CompletionCache, model_b: CountingModel, request_b: CompletionRequest
) -> None:
    CachingAdapter(CountingModel("toy"), cache).complete(req(1))
    adapter = CachingAdapter(model_b, cache)
    result = adapter.complete(request_b)
    assert not result.cached and model_b.calls == 1
    assert (adapter.hits, adapter.misses) == (0, 1)


def test_same_request_from_another_hazard_is_a_hit(cache: CompletionCache) -> None:
    # content_key leaves the hazard id out on purpose; the cache follows it.
    CachingAdapter(CountingModel(), cache).complete(req(1))
    other = CompletionRequest(req(1).prompt, req(1).params, req(1).sample_index, hazard_id="OTHER-1")
    assert CachingAdapter(ExplodingModel(), cache).complete(other).cached


def test_identity_is_canonical_describe_json_and_can_be_overridden(cache: CompletionCache) -> None:
    model = CountingModel(b=2, a=1)
    adapter = CachingAdapter(model, cache)
    assert adapter.identity == adapter_identity(model)
    assert adapter.identity == '{"a":1,"adapter":"python","b":2,"name":"python:toy"}'
    adapter.complete(req(0))
    assert cache.get(adapter.identity, req(0)) is not None
    assert cache.get("something else", req(0)) is None
    pinned = CachingAdapter(CountingModel("renamed"), cache, identity=adapter.identity)
    assert pinned.complete(req(0)).cached
    assert cache_key("a", req(0)) != cache_key("b", req(0))


def test_refresh_ignores_hits_but_stores(cache: CompletionCache) -> None:
    old = CountingModel()
    CachingAdapter(old, cache).complete(req(0))

    class NewModel(CountingModel):
        def complete(self, request: CompletionRequest) -> Completion:
            super().complete(request)
            return Completion("fresh answer")

    new = NewModel()
    refreshing = CachingAdapter(new, cache, refresh=True)
    assert refreshing.complete(req(0)).text == "fresh answer"
    assert refreshing.complete(req(0)).text == "fresh answer"
    assert new.calls == 2 and (refreshing.hits, refreshing.misses) == (0, 2)
    served = CachingAdapter(ExplodingModel(), cache).complete(req(0))
    assert served.cached and served.text == "fresh answer"
    assert len(cache) == 1


def test_model_errors_pass_through_and_are_not_cached(cache: CompletionCache) -> None:
    failing = CachingAdapter(CountingModel(fail=True), cache)
    with pytest.raises(ModelError):
        failing.complete(req(0))
    assert len(cache) == 0
    working = CountingModel()
    assert not CachingAdapter(working, cache).complete(req(0)).cached
    assert working.calls == 1


def test_wrapper_passes_name_describe_concurrency_and_close_through(cache: CompletionCache) -> None:
    model = CountingModel(extra="x")
    adapter = CachingAdapter(model, cache)
    assert isinstance(adapter, ModelAdapter)
    assert adapter.name == model.name
    assert adapter.describe() == model.describe()
    assert adapter.max_concurrency == 1  # the inner declares none
    model.max_concurrency = 16  # type: ignore[attr-defined]
    assert adapter.max_concurrency == 16
    adapter.close()
    assert model.closed
    assert cache.enabled  # the cache is the caller's to close


def test_empty_completion_is_cached_too(cache: CompletionCache) -> None:
    cache.put("id", req(0), Completion(""))
    hit = cache.get("id", req(0))
    assert hit is not None and hit.text == "" and hit.prompt_tokens is None


def test_unusable_location_disables_caching_without_crashing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    seen: list[str] = []
    cache = CompletionCache(blocker / "cache.sqlite3", on_warning=seen.append)
    model = CountingModel()
    adapter = CachingAdapter(model, cache)
    assert not adapter.complete(req(0)).cached
    assert not adapter.complete(req(0)).cached
    assert model.calls == 2
    assert not cache.enabled and len(cache) == 0
    assert len(seen) == 1 and "disabled" in seen[0] and cache.warnings == seen
    cache.close()


def test_faults_in_mid_run_become_warnings_never_exceptions(cache: CompletionCache) -> None:
    seen: list[str] = []
    cache.on_warning = seen.append
    model = CountingModel()
    adapter = CachingAdapter(model, cache)
    adapter.complete(req(0))
    # Another process wrecks the schema: an operational fault, warned about once.
    with sqlite3.connect(cache.path) as other:
        other.execute("DROP TABLE completions")
    assert not adapter.complete(req(0)).cached
    assert not adapter.complete(req(1)).cached
    assert len(seen) == 1 and "no such table" in seen[0] and cache.enabled

    class Corrupted:
        def execute(self, *args: object) -> None:
            raise sqlite3.DatabaseError("database disk image is malformed")

    # Corruption noticed mid-run: the cache stops being used in this process.
    cache._idle.clear()
    cache._idle.append(Corrupted())  # type: ignore[arg-type]
    assert not adapter.complete(req(2)).cached
    assert not cache.enabled and "disabled" in seen[-1] and len(seen) == 2
    assert not adapter.complete(req(3)).cached and model.calls == 5


def test_warning_callback_may_use_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(os.urandom(4096))
    sizes: list[int] = []
    opened = CompletionCache(path, on_warning=lambda message: sizes.append(len(opened)))
    opened.put("id", req(0), Completion("x"))
    assert sizes == [1]  # reported once the put is done, with no lock held: no deadlock
    opened.close()


# ---- concurrency ---------------------------------------------------------------------


def test_threads_share_one_cache(cache: CompletionCache) -> None:
    model = CountingModel()
    adapter = CachingAdapter(model, cache)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for i in range(thread * 100, thread * 100 + 100):
                first = adapter.complete(req(i))
                assert adapter.complete(req(i)).text == first.text
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) == 800 and model.calls == 800
    assert (adapter.hits, adapter.misses) == (800, 800)
    assert cache.warnings == []


def _process_worker(path: str, worker: int, count: int, start: Any) -> None:
    """Runs in a spawned process: writes its own entries and reads everyone's."""
    start.wait()
    with CompletionCache(path) as cache:
        adapter = CachingAdapter(CountingModel(), cache)
        for i in range(count):
            adapter.complete(req(worker * 1000 + i))
            # Read what the other workers wrote so far (hit or miss, never an error).
            cache.get(adapter.identity, req(((worker + 1) % 3) * 1000 + i))
        if cache.warnings:
            raise SystemExit("; ".join(cache.warnings))


def test_processes_share_one_file(cache_path: Path) -> None:
    # Three processes start together on a file that does not exist yet, as xdist workers do.
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [
        context.Process(target=_process_worker, args=(str(cache_path), worker, 150, start))
        for worker in range(3)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    with CompletionCache(cache_path) as cache:
        assert len(cache) == 450
        adapter = CachingAdapter(ExplodingModel(), cache)
        for worker in range(3):
            for i in range(150):
                assert adapter.complete(req(worker * 1000 + i)).cached


@POSIX_ONLY
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_forked_child_opens_its_own_connections(cache: CompletionCache) -> None:
    cache.put("id", req(0), Completion("from parent"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        ok = cache.get("id", req(0)) is not None
        cache.put("id", req(1), Completion("from child"))
        os._exit(0 if ok and not cache.warnings else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    hit = cache.get("id", req(1))
    assert hit is not None and hit.text == "from child"


# ---- durability ----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pytest_codexsafety.cache import CachingAdapter, CompletionCache
    from pytest_codexsafety.models.base import Completion, CompletionRequest

    class Model:
        name = "python:toy"
        def describe(self): return {"adapter": "python", "name": self.name}
        def complete(self, request): return Completion("answer %d" % request.sample_index)
        def close(self): pass

    path, count = sys.argv[1], int(sys.argv[2])
    adapter = CachingAdapter(Model(), CompletionCache(path))
    i = 0
    while count < 0 or i < count:
        adapter.complete(CompletionRequest("prompt", {"seed": 0}, i))
        print(i, flush=True)  # acknowledged: complete() has returned
        i += 1
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit, no flush of anything
    """
)


def _toy_identity_requests(n: int) -> list[CompletionRequest]:
    return [CompletionRequest("prompt", {"seed": 0}, i) for i in range(n)]


@POSIX_ONLY
def test_entries_survive_sigkill_and_the_rerun_asks_only_for_the_rest(cache_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, str(cache_path), "50"],
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    with CompletionCache(cache_path) as cache:
        assert len(cache) == 50
        model = CountingModel()
        adapter = CachingAdapter(model, cache, identity='{"adapter":"python","name":"python:toy"}')
        texts = [adapter.complete(r).text for r in _toy_identity_requests(70)]
    assert model.calls == 20 and adapter.hits == 50
    assert texts[:50] == [f"answer {i}" for i in range(50)]


@POSIX_ONLY
def test_killed_mid_run_keeps_every_acknowledged_entry(cache_path: Path) -> None:
    # The child writes without end; it is killed from outside at an arbitrary moment.
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(cache_path), "-1"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged = -1
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 200:
            break
    child.kill()
    child.wait(timeout=30)
    child.stdout.close()
    with CompletionCache(cache_path) as cache:
        assert len(cache) >= acknowledged + 1
        identity = '{"adapter":"python","name":"python:toy"}'
        for request in _toy_identity_requests(acknowledged + 1):
            hit = cache.get(identity, request)
            assert hit is not None and hit.text == f"answer {request.sample_index}"
        assert cache.warnings == []


# ---- corruption ----------------------------------------------------------------------


def _filled_cache_bytes(path: Path, entries: int = 300) -> bytes:
    with CompletionCache(path) as cache:
        for i in range(entries):
            cache.put("id", req(i), Completion("completion text " * 30))
    return path.read_bytes()  # closing the last connection checkpointed the WAL


def _corrupt_variants(tmp_path: Path) -> dict[str, bytes]:
    data = _filled_cache_bytes(tmp_path / "source" / "cache.sqlite3")
    assert len(data) > 16 * 4096
    return {
        "random-bytes": os.urandom(12_288),
        "truncated-header": data[:60],
        "truncated-half": data[: len(data) // 2],
        "garbled-pages": data[:8192] + os.urandom(8192) + data[16384:],
    }


@pytest.mark.parametrize("variant", ["random-bytes", "truncated-header", "truncated-half", "garbled-pages"])
def test_corrupt_file_is_set_aside_and_a_fresh_cache_started(tmp_path: Path, variant: str) -> None:
    content = _corrupt_variants(tmp_path)[variant]
    path = tmp_path / "run" / "cache.sqlite3"
    path.parent.mkdir()
    path.write_bytes(content)
    seen: list[str] = []
    with CompletionCache(path, on_warning=seen.append) as cache:
        model = CountingModel()
        adapter = CachingAdapter(model, cache)
        assert not adapter.complete(req(0)).cached
        assert adapter.complete(req(0)).cached
        assert len(cache) == 1 and cache.enabled
    assert len(seen) == 1 and seen == cache.warnings
    assert "corrupt" in seen[0] and "set aside" in seen[0]
    aside = [p for p in path.parent.iterdir() if p.name.startswith("cache.sqlite3.corrupt-")
             and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].name in seen[0]
    assert aside[0].read_bytes() == content  # kept for inspection, untouched
    # Reopening the fresh file is quiet.
    with CompletionCache(path) as reopened:
        assert len(reopened) == 1 and reopened.warnings == []


def _open_corrupt(path: str, start: Any) -> None:
    start.wait()
    with CompletionCache(path) as cache:
        cache.put("id", req(os.getpid()), Completion("fresh"))
        if len(cache) < 1 or not cache.enabled:
            raise SystemExit("cache unusable")


def test_workers_finding_the_same_corrupt_file_set_it_aside_once(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(os.urandom(8192))
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [context.Process(target=_open_corrupt, args=(str(path), start)) for _ in range(3)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    with CompletionCache(path) as cache:
        assert len(cache) == 3 and cache.warnings == []
