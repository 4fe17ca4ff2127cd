"""Temporal tasks (safety and liveness): references pass, mistakes fail, traces are judged."""

from __future__ import annotations

from pytest_codexsafety.capability.complexity import temporal


# ------------------------------------------------------------------ traces judged here

G, Y, R = "G", "Y", "R"


def test_traffic_reference_by_hand() -> None:
    # an EW car at tick 0: NS keeps its 3-tick minimum green, 2 ticks yellow, then EW
    trace = temporal.ref_traffic([[False, t == 0] for t in range(8)])
    assert trace == [[G, R]] * 3 + [[Y, R]] * 2 + [[R, G]] * 3
    assert temporal.judge_traffic(([[False, t == 0] for t in range(8)],), trace) == []


def test_traffic_judge_names_safety_and_liveness() -> None:
    quiet = [[False, False]] * 6
    both = [[G, R], [G, R], [G, G], [Y, R], [Y, R], [R, G]]
    assert any(p.startswith("safety: both") for p in temporal.judge_traffic((quiet,), both))
    short_yellow = [[G, R]] * 3 + [[Y, R], [R, G], [R, G]]
    assert any("yellow lasted 1" in p for p in temporal.judge_traffic((quiet,), short_yellow))
    ew_car = [[False, t == 0] for t in range(10)]
    stuck = [[G, R]] * 10
    assert any(p.startswith("liveness") for p in temporal.judge_traffic((ew_car,), stuck))
    assert temporal.judge_traffic((quiet,), [[G, R]] * 5) != []  # wrong length


def test_bucket_judge_catches_a_burst() -> None:
    requests = [[0, 3], [10, 3], [10, 3]]
    assert temporal.ref_bucket(3, 1, requests) == [True, True, False]
    assert temporal.judge_bucket((3, 1, requests), [True, True, False]) == []
    problems = temporal.judge_bucket((3, 1, requests), [True, True, True])
    assert problems and problems[0].startswith("safety: admitted cost 6 in ticks 10..10")


def test_rwlock_judge_catches_sharing_starvation_and_overtaking() -> None:
    events = [["request", "a", "r"], ["request", "b", "w"], ["request", "c", "r"],
              ["release", "a"], ["release", "b"], ["release", "c"]]
    ref = temporal.ref_rwlock(events)
    assert [s["writer"] for s in ref] == [None, None, None, "b", None, None]
    assert temporal.judge_rwlock((events,), ref) == []
    shared = [dict(s) for s in ref]
    shared[1] = {"writer": "b", "readers": ["a"]}
    assert any(p.startswith("safety: writer b") for p in temporal.judge_rwlock((events,), shared))
    overtaken = [dict(s) for s in ref]
    overtaken[2] = {"writer": None, "readers": ["a", "c"]}
    assert any(p.startswith("fairness: c overtook") for p in temporal.judge_rwlock((events,), overtaken))
    never = [{"writer": None, "readers": ["a"]}] * 3 + [{"writer": None, "readers": []}] * 3
    assert any(p.startswith("liveness: b") for p in temporal.judge_rwlock((events,), never))


def test_retry_reference_and_judge() -> None:
    args = (["a", "b"], {"a": 5}, 1, 3)
    out = temporal.ref_retry(*args)
    # a fails at ticks 0, 2 (backoff 1 would allow 1, but b runs then), 4: abandoned
    assert out["result"] == {"runs": [["a"], ["b"], ["a"], [], ["a"]],
                             "succeeded": ["b"], "abandoned": ["a"]}
    assert temporal.judge_retry(args, out) == []
    early = {"backoff": out["backoff"], "result": dict(out["result"], runs=[["a"], ["a", "b"], ["a"]])}
    problems = temporal.judge_retry(args, early)
    assert any("capacity 1" in p for p in problems)
    assert any("before its backoff" in p for p in problems)


def test_elevator_and_monitor_judges() -> None:
    schedule = [[2], [], [], [], [], []]
    ref = temporal.ref_elevator(3, schedule)
    assert [s["state"]["floor"] for s in ref] == [1, 2, 2, 2, 2, 2]
    assert [s["state"]["door"] for s in ref] == ["closed", "closed", "open", "closed", "closed", "closed"]
    assert temporal.judge_elevator((3, schedule), ref) == []
    jump = [dict(e, state=dict(e["state"], floor=2)) if i == 0 else e for i, e in enumerate(ref)]
    assert any("jumped" in p for p in temporal.judge_elevator((3, schedule), jump))
    script = [["a"], [], [], [], ["a"]]
    mon = temporal.ref_monitor(2, script)
    assert [e["events"] for e in mon] == [[], [], [], [["down", "a"]], [["up", "a"]]]
    early = [dict(e, events=[["down", "a"]]) if i == 2 else e for i, e in enumerate(mon)]
    assert any("false alarm" in p for p in temporal.judge_monitor((2, script), early))
