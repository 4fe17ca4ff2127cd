"""The recorder: what it writes, that replay serves it back, and the xdist part files."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Mapping

import pytest

from pytest_codexsafety.cache import CachingAdapter, CompletionCache
from pytest_codexsafety.errors import FatalModelError, ModelError
from pytest_codexsafety.models.base import Completion, CompletionRequest, ModelAdapter
from pytest_codexsafety.models.recording import (
    RecordingAdapter,
    find_parts,
    merge_recordings,
    part_path,
)
from pytest_codexsafety.models.replay import ReplayAdapter, read_recording

CANARY = "sk-canary-0123456789abcdef"


class ToyModel:
    """Varies its answer per call, so a replay that re-asked the model would show."""

    def __init__(self) -> None:
        self.name = "python:toy"
        self.calls = 0
        self.closed = False
        self._lock = threading.Lock()

    def describe(self) -> Mapping[str, Any]:
        # describe() must never hold credentials; this one misbehaves to prove the
        # recording does not copy it anyway.
        return {"adapter": "python", "name": self.name, "api_key": CANARY}

    def complete(self, request: CompletionRequest) -> Completion:
        with self._lock:
            self.calls += 1
            call = self.calls
        if "crash" in request.prompt:
            raise ModelError("backend unavailable")
        return Completion(f"answer to {request.prompt!r} #{request.sample_index} (call {call})",
                          prompt_tokens=3, completion_tokens=5,
                          metadata={"authorization": f"Bearer {CANARY}"})

    def close(self) -> None:
        self.closed = True


def requests(n: int = 12, *, hazard: str = "SEC-EVAL-001", prompts: int = 3) -> list[CompletionRequest]:
    per_prompt = n // prompts
    return [
        CompletionRequest(prompt=f"{hazard} prompt {i // per_prompt}", params={"seed": 0, "temperature": 0.2},
                          sample_index=i % per_prompt, hazard_id=hazard, prompt_index=i // per_prompt)
        for i in range(n)
    ]


def test_recording_replays_identically_and_holds_no_credentials(tmp_path: Path) -> None:
    path = tmp_path / "recordings" / "nightly.jsonl"
    model = ToyModel()
    recorder = RecordingAdapter(model, path)
    asked = requests()
    texts = [recorder.complete(r).text for r in asked]
    recorder.close()
    assert model.closed and recorder.recorded == len(asked)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(asked)
    first = json.loads(lines[0])
    assert set(first) == {"key", "hazard_id", "prompt", "params", "sample_index", "completion"}
    assert first["hazard_id"] == "SEC-EVAL-001" and first["params"] == {"seed": 0, "temperature": 0.2}
    assert read_recording(path) == {r.content_key(): t for r, t in zip(asked, texts)}
    assert CANARY not in path.read_text(encoding="utf-8")

    replay = ReplayAdapter(path)
    assert [replay.complete(r).text for r in asked] == texts


def test_cache_hits_are_recorded_too(tmp_path: Path) -> None:
    asked = requests()
    with CompletionCache(tmp_path / "cache.sqlite3") as cache:
        first = CachingAdapter(ToyModel(), cache)
        texts = [first.complete(r).text for r in asked]
        # Second run: every completion comes from the cache, yet the recording is complete.
        model = ToyModel()
        recorder = RecordingAdapter(CachingAdapter(model, cache), tmp_path / "rec.jsonl")
        assert [recorder.complete(r).text for r in asked] == texts
        recorder.close()
    assert model.calls == 0
    assert read_recording(tmp_path / "rec.jsonl") == {r.content_key(): t for r, t in zip(asked, texts)}


def test_failed_requests_are_not_recorded(tmp_path: Path) -> None:
    recorder = RecordingAdapter(ToyModel(), tmp_path / "rec.jsonl")
    with pytest.raises(ModelError):
        recorder.complete(CompletionRequest("please crash", {}, 0))
    recorder.complete(requests(1, prompts=1)[0])
    recorder.close()
    assert len(read_recording(tmp_path / "rec.jsonl")) == 1


def test_a_new_session_starts_a_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text('{"key": "stale", "completion": "from last week"}\n')
    recorder = RecordingAdapter(ToyModel(), path)
    assert path.read_text().startswith('{"key": "stale"')  # untouched until the first write
    recorder.complete(requests(1, prompts=1)[0])
    assert "stale" not in read_recording(path)
    recorder.close()
    # A session that used no completion leaves an empty recording, not the old one.
    RecordingAdapter(ToyModel(), path).close()
    assert path.read_text() == ""


def test_lines_are_flushed_as_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = RecordingAdapter(ToyModel(), path)
    for count, request in enumerate(requests(6), start=1):
        recorder.complete(request)
        assert len(read_recording(path)) == count  # readable before close (kill -9 safe)
    recorder.close()


def test_a_key_is_recorded_once(tmp_path: Path) -> None:
    recorder = RecordingAdapter(ToyModel(), tmp_path / "rec.jsonl")
    request = requests(1, prompts=1)[0]
    recorder.complete(request)
    recorder.complete(request)
    # The same content asked by another hazard shares the key (content_key omits the id).
    recorder.complete(CompletionRequest(request.prompt, request.params, request.sample_index, hazard_id="X"))
    recorder.close()
    assert len((tmp_path / "rec.jsonl").read_text().splitlines()) == 1


def test_threads_record_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = RecordingAdapter(ToyModel(), path)
    asked = requests(400, prompts=8)
    chunks = [asked[i::8] for i in range(8)]
    threads = [threading.Thread(target=lambda c=c: [recorder.complete(r) for r in c]) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 400 and all(json.loads(line)["key"] for line in lines)
    assert set(read_recording(path)) == {r.content_key() for r in asked}


def test_wrapper_passes_name_describe_and_concurrency_through(tmp_path: Path) -> None:
    model = ToyModel()
    recorder = RecordingAdapter(model, tmp_path / "rec.jsonl")
    assert isinstance(recorder, ModelAdapter)
    assert recorder.name == model.name and recorder.describe() == model.describe()
    assert recorder.max_concurrency == 1
    model.max_concurrency = 8  # type: ignore[attr-defined]
    assert recorder.max_concurrency == 8
    stacked = RecordingAdapter(CachingAdapter(model, CompletionCache(tmp_path / "c.sqlite3")),
                               tmp_path / "rec.jsonl")
    assert stacked.max_concurrency == 8


def test_unwritable_recording_is_a_fatal_error(tmp_path: Path) -> None:
    (tmp_path / "rec.jsonl").mkdir()  # a directory where the file should go
    recorder = RecordingAdapter(ToyModel(), tmp_path / "rec.jsonl")
    with pytest.raises(FatalModelError, match="cannot write the recording"):
        recorder.complete(requests(1, prompts=1)[0])
    recorder.close()


# ---- pytest-xdist: one part per worker, merged by the controller ------------------------


def test_workers_write_parts_that_merge_into_one_replayable_recording(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    shared = requests(4, hazard="SHARED", prompts=1)  # both workers happen to ask these
    own = {"gw0": requests(8, hazard="A"), "gw1": requests(8, hazard="B")}
    model = ToyModel()
    answers: dict[str, dict[str, str]] = {}
    for worker in ("gw1", "gw0"):  # gw1 finishes first: the merge order must not care
        recorder = RecordingAdapter(model, path, worker_id=worker)
        assert recorder.file_path == tmp_path / f"rec.jsonl.{worker}"
        answers[worker] = {r.content_key(): recorder.complete(r).text for r in shared + own[worker]}
        recorder.close()
    expected = {**answers["gw1"], **answers["gw0"]}  # gw0's copy of a shared key wins
    assert not path.exists()

    parts = find_parts(path)
    assert parts == [part_path(path, "gw0"), part_path(path, "gw1")]
    result = merge_recordings(path, parts)
    assert (result.entries, result.duplicates, result.problems) == (20, 4, ())
    assert not any(p.exists() for p in parts)

    keys = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    # Stable order: gw0's part first (its copy of a shared key wins), each in written order.
    assert keys == [r.content_key() for r in shared + own["gw0"] + own["gw1"]]
    assert read_recording(path) == expected
    replay = ReplayAdapter(path)
    for request in shared + own["gw0"] + own["gw1"]:
        assert replay.complete(request).text == expected[request.content_key()]


def test_merge_skips_a_torn_last_line_and_missing_parts(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = RecordingAdapter(ToyModel(), path, worker_id="gw0")
    for request in requests(3, prompts=1):
        recorder.complete(request)
    recorder.close()
    with open(recorder.file_path, "a", encoding="utf-8") as handle:
        handle.write('{"key": "half-writ')  # a worker killed in mid-write
    result = merge_recordings(path, [recorder.file_path, part_path(path, "gw1")])
    assert result.entries == 3 and len(result.problems) == 2
    assert "rec.jsonl.gw0:4" in result.problems[0] and "gw1" in result.problems[1]
    assert len(read_recording(path)) == 3


def test_find_parts_orders_workers_naturally_and_ignores_other_files(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    for name in ("gw10", "gw2", "gw0"):
        part_path(path, name).write_text("")
    (tmp_path / "rec.jsonl.merging-12.tmp").write_text("")
    (tmp_path / "rec.jsonl").write_text("")
    assert [p.name for p in find_parts(path)] == ["rec.jsonl.gw0", "rec.jsonl.gw2", "rec.jsonl.gw10"]


@pytest.mark.parametrize("worker_id", ["../escape", "gw0/x", "", "gw 0"])
def test_worker_id_must_be_a_plain_name(tmp_path: Path, worker_id: str) -> None:
    with pytest.raises(ValueError):
        part_path(tmp_path / "rec.jsonl", worker_id)
