"""Run one hazard: prompts -> model -> classification -> decision.  Pure: no pytest.

The runner never executes generated code: probes classify completions statically, and
executing probes hand code to the sandbox.  Every fault of the machinery ends as an
errored sample or an errored run, never as a safe sample.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from .capability.cells import Cell
from .errors import BudgetExhaustedError, CodexSafetyError, FatalModelError, RiskConfigError
from .sandbox.api import SandboxError
from .gate import GateSettings, HazardDecision, decide, effective_limit
from .models.base import Completion, CompletionRequest, ModelAdapter
from .probes.base import Classification, ProbeKind, RuleFinding
from .risk import DEFAULT_RISK_MODEL, RiskModel
from .specmodel import HazardSpec
from .vocab import Outcome, Verdict

# Evidence and transcripts are kept short in reports: model output can be huge.
MAX_TEXT = 2000

ProgressCallback = Callable[[int, int], None]


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


@dataclass(frozen=True)
class SampleRecord:
    prompt_index: int
    sample_index: int
    prompt: str
    completion: str
    outcome: Outcome
    evidence: tuple[str, ...] = ()
    code: str = ""
    error: str | None = None
    # Capability probes only: the profile cell measured and whether the task was solved.
    cell: Cell | None = None
    solved: bool | None = None
    # Static rules: structured findings (SARIF reads them with the judged code).
    findings: tuple[RuleFinding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "prompt_index": self.prompt_index,
            "sample_index": self.sample_index,
            "prompt": _clip(self.prompt),
            "completion": _clip(self.completion),
            "outcome": self.outcome.value,
            "evidence": [_clip(e, 300) for e in self.evidence],
            "error": None if self.error is None else _clip(self.error, 300),
            "cell": None if self.cell is None else list(self.cell.key),
            "solved": self.solved,
        }
        if self.findings:
            # Only samples a static rule matched carry these (older registers lack them).
            out["code"] = _clip(self.code)
            out["findings"] = [f.to_dict() for f in self.findings]
        return out


@dataclass(frozen=True)
class HazardRun:
    """Everything measured for one hazard, and the decision taken on it."""

    spec: HazardSpec
    samples: tuple[SampleRecord, ...]
    decision: HazardDecision | None
    # Set when no decision could be taken (fatal model fault, unsatisfiable threshold).
    error: str | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0
    cached_requests: int = 0
    # True when the request budget stopped sampling before the plan was complete.
    cut_short: bool = False
    # How the samples were drawn: see :func:`_sampling_record` (None: never sampled).
    sampling: Mapping[str, Any] | None = None

    @property
    def verdict(self) -> Verdict:
        return Verdict.ERROR if self.decision is None else self.decision.verdict

    @property
    def gates_build(self) -> bool:
        return self.decision is None or self.decision.gates_build

    def count(self, outcome: Outcome) -> int:
        return sum(1 for s in self.samples if s.outcome is outcome)

    def worst_samples(self, limit: int = 3) -> tuple[SampleRecord, ...]:
        """Hazardous samples first, then errors: what a reviewer should read.

        Within each outcome, prompts take turns (the first hazardous sample of every
        prompt before the second of any), so a few shown samples cover many prompts.
        """
        order = {Outcome.HAZARDOUS: 0, Outcome.ERROR: 1}
        seen: dict[tuple[Outcome, int], int] = {}
        ranked: list[tuple[int, int, int, SampleRecord]] = []
        for sample in self.samples:
            if sample.outcome not in order:
                continue
            turn = seen.get((sample.outcome, sample.prompt_index), 0)
            seen[(sample.outcome, sample.prompt_index)] = turn + 1
            ranked.append((order[sample.outcome], turn, sample.prompt_index, sample))
        ranked.sort(key=lambda r: r[:3])
        return tuple(r[3] for r in ranked[:limit])


def build_request(spec: HazardSpec, prompt_index: int, prompt: str, sample_index: int, seed: int) -> CompletionRequest:
    params: dict[str, Any] = dict(spec.probe.params)
    params.setdefault("seed", seed)
    return CompletionRequest(
        prompt=prompt,
        params=params,
        sample_index=sample_index,
        hazard_id=spec.id,
        prompt_index=prompt_index,
    )


def _classify(kind: ProbeKind, spec: HazardSpec, prompt: str, completion: str) -> Classification:
    try:
        return kind.classify(spec.probe, prompt, completion)
    except SandboxError:
        raise  # the machinery, not the sample: the whole hazard stops (see _absorb)
    except CodexSafetyError as exc:
        return Classification(Outcome.ERROR, (f"probe {kind.name} failed: {exc}",))
    except Exception as exc:  # a third-party probe's bug costs the sample, never passes it
        return Classification(
            Outcome.ERROR, (f"probe {kind.name} crashed: {type(exc).__name__}: {exc}",)
        )


@dataclass
class _Tally:
    """What sampling produced so far; touched only from the coordinating thread."""

    records: dict[tuple[int, int], SampleRecord] = field(default_factory=dict)
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fatal: str | None = None
    budget_hit: bool = False
    errors: int = 0
    # Past this many errored samples the hazard is an error whatever the rest say.
    error_limit: float = float("inf")


def _sample(adapter: ModelAdapter, request: CompletionRequest) -> Completion | BaseException:
    """One model call; the exception is returned, not raised, so the pool keeps going."""
    try:
        return adapter.complete(request)
    except Exception as exc:  # every model fault is judged by the coordinator
        return exc


def _absorb(tally: _Tally, kind: ProbeKind, spec: HazardSpec, request: CompletionRequest,
            result: Completion | BaseException) -> None:
    key = (request.prompt_index, request.sample_index)
    if isinstance(result, BudgetExhaustedError):
        tally.budget_hit = True
        return
    tally.requests += 1
    if isinstance(result, FatalModelError):
        tally.fatal = tally.fatal or str(result)
        return
    if isinstance(result, BaseException):  # any other model fault costs this sample only
        tally.errors += 1
        tally.records[key] = SampleRecord(
            request.prompt_index, request.sample_index, request.prompt, "", Outcome.ERROR,
            error=f"{type(result).__name__}: {result}",
        )
        return
    tally.cached += 1 if result.cached else 0
    tally.prompt_tokens += result.prompt_tokens or 0
    tally.completion_tokens += result.completion_tokens or 0
    try:
        verdict = _classify(kind, spec, request.prompt, result.text)
    except SandboxError as exc:
        tally.fatal = tally.fatal or f"sandbox: {exc}"
        return
    error = verdict.evidence[0] if verdict.outcome is Outcome.ERROR and verdict.evidence else None
    tally.records[key] = SampleRecord(
        request.prompt_index, request.sample_index, request.prompt, result.text,
        verdict.outcome, verdict.evidence, verdict.code, error=error,
        cell=verdict.cell, solved=verdict.solved, findings=verdict.findings,
    )


def _stopped(tally: _Tally) -> bool:
    # Once errors exceed the tolerated share of the whole plan the verdict is settled
    # (error): asking a failing endpoint for the rest would only cost time and money.
    return tally.fatal is not None or tally.budget_hit or tally.errors > tally.error_limit


def _collect(tally: _Tally, kind: ProbeKind, spec: HazardSpec, adapter: ModelAdapter,
             requests: list[CompletionRequest], workers: int,
             progress: ProgressCallback | None, planned: int | None = None) -> None:
    planned = len(requests) if planned is None else planned
    if workers <= 1:
        for request in requests:
            _absorb(tally, kind, spec, request, _sample(adapter, request))
            if progress is not None:
                progress(len(tally.records), planned)
            if _stopped(tally):
                return
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codexsafety-sample")
    futures = {pool.submit(_sample, adapter, request): request for request in requests}
    absorbed: set[Future[Completion | BaseException]] = set()
    try:
        for future in as_completed(futures):
            absorbed.add(future)
            _absorb(tally, kind, spec, futures[future], future.result())
            if progress is not None:
                progress(len(tally.records), planned)
            if _stopped(tally):
                break
    finally:
        # A fatal fault or an exhausted budget stops what has not started yet.
        pool.shutdown(wait=True, cancel_futures=True)
    # Requests already in flight when sampling stopped were answered (and paid for):
    # keep their samples.
    for future, request in futures.items():
        if future not in absorbed and future.done() and not future.cancelled():
            _absorb(tally, kind, spec, request, future.result())


def _finalize(kind: ProbeKind, spec: HazardSpec,
              records: tuple[SampleRecord, ...]) -> tuple[tuple[SampleRecord, ...], str | None]:
    """Let a kind that judges samples against each other (misalignment: buggy-context
    samples against what the clean context showed) relabel outcomes once all are in.

    It may change outcomes and evidence only; anything else is a fault of the kind, and
    the hazard errors (never passes)."""
    try:
        final = tuple(kind.finalize(spec.probe, records))  # type: ignore[attr-defined]
    except Exception as exc:  # a kind's bug costs the hazard, never passes it
        return records, f"probe {kind.name} failed while judging the samples together: {type(exc).__name__}: {exc}"
    same = len(final) == len(records) and all(
        isinstance(new, SampleRecord) and (new.prompt_index, new.sample_index, new.prompt, new.completion)
        == (old.prompt_index, old.sample_index, old.prompt, old.completion)
        and (old.outcome is not Outcome.ERROR or new.outcome is Outcome.ERROR)
        for new, old in zip(final, records)
    )
    if not same:
        return records, (f"probe {kind.name} changed more than outcomes while judging the samples "
                         "together (or turned an errored sample into a result)")
    return final, None


def batch_size(settings: GateSettings, prompts: int, concurrency: int) -> int:
    """Samples per look of sequential sampling: ``settings.batch`` (0: the concurrency),
    rounded up to a whole number of rounds over the prompts, so every look has seen the
    same number of samples of every prompt (what keeps the confidence sequence valid for
    the rate averaged over prompts: docs/risk-model.md)."""
    wanted = settings.batch or max(1, concurrency)
    prompts = max(1, prompts)
    return -(-wanted // prompts) * prompts


def _round_robin(requests: list[CompletionRequest], prompts: int, per_prompt: int) -> list[CompletionRequest]:
    """Sample-major order: the first sample of every prompt, then the second of every
    prompt, ...; the plan is built prompt-major."""
    return [requests[p * per_prompt + i] for i in range(per_prompt) for p in range(prompts)]


def _counts(records: tuple[SampleRecord, ...]) -> tuple[int, int, int]:
    return (sum(1 for r in records if r.outcome is Outcome.HAZARDOUS),
            sum(1 for r in records if r.outcome is Outcome.SAFE),
            sum(1 for r in records if r.outcome is Outcome.ERROR))


def _sequential_collect(tally: _Tally, kind: ProbeKind, spec: HazardSpec, adapter: ModelAdapter,
                        requests: list[CompletionRequest], workers: int, batch: int,
                        progress: ProgressCallback | None, risk_model: RiskModel,
                        settings: GateSettings) -> tuple[int, bool]:
    """Draw ``requests`` (already in round-robin order) ``batch`` at a time, concurrently
    within a batch; after each batch decide on everything drawn so far with the
    confidence sequence and stop at the first pass or fail.  The budget and error stops
    of :func:`_collect` still apply.  Returns (looks, stopped by the gate)."""
    looks = 0
    for start in range(0, len(requests), batch):
        _collect(tally, kind, spec, adapter, requests[start:start + batch], workers, progress,
                 planned=len(requests))
        if _stopped(tally):
            return looks, False
        looks += 1
        hazardous, safe, errors = _counts(tuple(tally.records.values()))
        if hazardous + safe == 0:
            continue
        decision = decide(spec.severity, spec.threshold, hazardous=hazardous, safe=safe, errors=errors,
                          risk_model=risk_model, settings=settings)
        if decision.verdict in (Verdict.PASS, Verdict.FAIL):
            return looks, start + batch < len(requests)
    return looks, False


def _sampling_record(mode: str, *, batch: int | None = None, looks: int | None = None,
                     cap: int, drawn: int, stopped_early: bool = False,
                     note: str | None = None) -> dict[str, Any]:
    return {"mode": mode, "batch": batch, "looks": looks, "cap": cap, "drawn": drawn,
            "stopped_early": stopped_early, "note": note}


def _sampling_reason(sampling: Mapping[str, Any]) -> str | None:
    if sampling["mode"] == "sequential":
        if sampling["stopped_early"]:
            return (f"Sequential sampling: the confidence sequence decided at look {sampling['looks']} "
                    f"(batches of {sampling['batch']}), after {sampling['drawn']} of at most "
                    f"{sampling['cap']} samples; the bounds above are the ones that stopped it.")
        return (f"Sequential sampling: {sampling['looks']} look(s) in batches of {sampling['batch']} "
                f"drew {sampling['drawn']} of at most {sampling['cap']} samples without deciding earlier.")
    note = sampling.get("note")
    return None if note is None else str(note)


def _with_reason(decision: HazardDecision, reason: str) -> HazardDecision:
    """Insert a sentence before the decisive tail of the reasons."""
    tail = len(decision.conclusion)
    head = decision.reasons[:len(decision.reasons) - tail] if tail else decision.reasons
    return replace(decision, reasons=head + (reason,) + decision.conclusion)


def _cut_short(decision: HazardDecision, settings: GateSettings, taken: int, planned: int) -> HazardDecision:
    """A hazard the request budget cut short may fail, but it never passes."""
    note = (f"The request budget (--hazard-max-requests) stopped sampling after {taken} of "
            f"{planned} planned samples; a hazard cut short is never passed.")
    if decision.verdict is not Verdict.PASS:
        return replace(decision, reasons=decision.reasons + (note,),
                       conclusion=decision.conclusion + (note,))
    return replace(
        decision,
        verdict=Verdict.INCONCLUSIVE,
        reasons=decision.reasons + (note,),
        conclusion=(note,),
        gates_build=settings.inconclusive == "fail",
    )


def run_hazard(
    spec: HazardSpec,
    kind: ProbeKind,
    adapter: ModelAdapter,
    *,
    risk_model: RiskModel = DEFAULT_RISK_MODEL,
    settings: GateSettings = GateSettings(),
    seed: int = 0,
    progress: ProgressCallback | None = None,
    concurrency: int = 1,
) -> HazardRun:
    """Sample ``spec``'s prompts from ``adapter`` and decide.

    Up to ``concurrency`` requests run at once, further limited by the adapter's own
    ``max_concurrency`` (1 when it declares none: a user's function may not be thread
    safe).  Samples are kept in prompt and sample order whatever order they finish in.

    With ``settings.sampling == "sequential"`` the plan (prompts x ``samples``) is the cap:
    samples are drawn round-robin over the prompts in batches (:func:`batch_size`), and
    sampling stops after the first batch at which the confidence sequence passes or fails
    the hazard; the decision is taken on exactly those samples with the same bounds.
    Kinds with ``finalize`` always draw the whole plan (fixed-n).
    """
    started = time.perf_counter()
    try:
        # A threshold no rate can meet is known before any model call is spent on it.
        effective_limit(spec.severity, spec.threshold, risk_model)
    except RiskConfigError as exc:
        return HazardRun(spec=spec, samples=(), decision=None, model=dict(adapter.describe()),
                         error=f"threshold of {spec.id} cannot be evaluated: {exc}")
    prompts = list(kind.prompts(spec.probe))
    requests = [
        build_request(spec, prompt_index, prompt, sample_index, seed)
        for prompt_index, prompt in enumerate(prompts)
        for sample_index in range(spec.probe.samples)
    ]
    workers = max(1, min(concurrency, int(getattr(adapter, "max_concurrency", 1))))
    tally = _Tally(error_limit=settings.max_error_share * len(requests))
    sampling: dict[str, Any]
    if settings.sampling == "sequential" and not hasattr(kind, "finalize"):
        batch = batch_size(settings, len(prompts), workers)
        looks, early = _sequential_collect(
            tally, kind, spec, adapter, _round_robin(requests, len(prompts), spec.probe.samples),
            workers, batch, progress, risk_model, settings)
        sampling = _sampling_record("sequential", batch=batch, looks=looks, cap=len(requests),
                                    drawn=len(tally.records), stopped_early=early)
    else:
        note = None
        if settings.sampling == "sequential":
            # The kind relabels samples against each other once all are in (misalignment):
            # outcomes are not independent draws, so no early stop; fixed-n interval.
            note = (f"Sequential sampling is off for probe kind {kind.name}: it judges the samples "
                    "together once all are in, so every planned sample is drawn and the fixed-n "
                    "interval is used.")
            settings = replace(settings, sampling="fixed")
        _collect(tally, kind, spec, adapter, requests, workers, progress)
        sampling = _sampling_record("fixed", cap=len(requests), drawn=len(tally.records), note=note)
    records = tuple(tally.records[k] for k in sorted(tally.records))

    decision: HazardDecision | None = None
    error = tally.fatal
    if error is None and hasattr(kind, "finalize"):
        records, error = _finalize(kind, spec, records)
    controls = sum(1 for r in records if r.outcome is Outcome.CONTROL)
    if error is None and records and controls == len(records):
        error = (f"no sample counts toward the rate: all {controls} were control samples "
                 f"({spec.probe.kind}: the controls showed nothing to measure against), so the "
                 "hazard cannot be evaluated")
    if error is None:
        hazardous = sum(1 for r in records if r.outcome is Outcome.HAZARDOUS)
        safe = sum(1 for r in records if r.outcome is Outcome.SAFE)
        errors = sum(1 for r in records if r.outcome is Outcome.ERROR)
        try:
            decision = decide(
                spec.severity, spec.threshold, hazardous=hazardous, safe=safe, errors=errors,
                risk_model=risk_model, settings=settings,
            )
        except RiskConfigError as exc:
            error = f"threshold of {spec.id} cannot be evaluated: {exc}"
        else:
            reason = _sampling_reason(sampling)
            if reason is not None:
                decision = _with_reason(decision, reason)
            if tally.budget_hit:
                decision = _cut_short(decision, settings, len(records), len(requests))
    return HazardRun(
        spec=spec,
        samples=records,
        decision=decision,
        error=error,
        model=dict(adapter.describe()),
        requests=tally.requests,
        cached_requests=tally.cached,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        duration_s=time.perf_counter() - started,
        cut_short=tally.budget_hit,
        sampling=sampling,
    )
