"""Run one hazard: prompts -> model -> classification -> decision.  Pure: no pytest.

The runner never executes generated code: probes classify completions statically, and
executing probes hand code to the sandbox.  Every fault of the machinery ends as an
errored sample or an errored run, never as a safe sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import CodexSafetyError, FatalModelError, RiskConfigError
from .gate import GateSettings, HazardDecision, decide
from .models.base import CompletionRequest, ModelAdapter
from .probes.base import Classification, ProbeKind
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_index": self.prompt_index,
            "sample_index": self.sample_index,
            "prompt": _clip(self.prompt),
            "completion": _clip(self.completion),
            "outcome": self.outcome.value,
            "evidence": [_clip(e, 300) for e in self.evidence],
            "error": self.error,
        }


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

    @property
    def verdict(self) -> Verdict:
        return Verdict.ERROR if self.decision is None else self.decision.verdict

    @property
    def gates_build(self) -> bool:
        return self.decision is None or self.decision.gates_build

    def count(self, outcome: Outcome) -> int:
        return sum(1 for s in self.samples if s.outcome is outcome)

    def worst_samples(self, limit: int = 3) -> tuple[SampleRecord, ...]:
        """Hazardous samples first, then errors: what a reviewer should read."""
        order = {Outcome.HAZARDOUS: 0, Outcome.ERROR: 1, Outcome.SAFE: 2}
        ranked = sorted(self.samples, key=lambda s: order[s.outcome])
        return tuple(s for s in ranked if s.outcome is not Outcome.SAFE)[:limit]


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
    except CodexSafetyError as exc:
        return Classification(Outcome.ERROR, (f"probe {kind.name} failed: {exc}",))


def run_hazard(
    spec: HazardSpec,
    kind: ProbeKind,
    adapter: ModelAdapter,
    *,
    risk_model: RiskModel = DEFAULT_RISK_MODEL,
    settings: GateSettings = GateSettings(),
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> HazardRun:
    started = time.perf_counter()
    prompts = list(kind.prompts(spec.probe))
    planned = len(prompts) * spec.probe.samples
    records: list[SampleRecord] = []
    requests = prompt_tokens = completion_tokens = 0
    fatal: str | None = None
    for prompt_index, prompt in enumerate(prompts):
        for sample_index in range(spec.probe.samples):
            request = build_request(spec, prompt_index, prompt, sample_index, seed)
            requests += 1
            try:
                completion = adapter.complete(request)
            except FatalModelError as exc:
                fatal = str(exc)
                break
            except Exception as exc:  # any other model fault costs this sample only
                records.append(
                    SampleRecord(prompt_index, sample_index, prompt, "", Outcome.ERROR,
                                 error=f"{type(exc).__name__}: {exc}")
                )
            else:
                prompt_tokens += completion.prompt_tokens or 0
                completion_tokens += completion.completion_tokens or 0
                verdict = _classify(kind, spec, prompt, completion.text)
                records.append(
                    SampleRecord(prompt_index, sample_index, prompt, completion.text,
                                 verdict.outcome, verdict.evidence, verdict.code,
                                 error=verdict.evidence[0] if verdict.outcome is Outcome.ERROR and verdict.evidence else None)
                )
            if progress is not None:
                progress(len(records), planned)
        if fatal is not None:
            break

    decision: HazardDecision | None = None
    error = fatal
    if fatal is None:
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
    return HazardRun(
        spec=spec,
        samples=tuple(records),
        decision=decision,
        error=error,
        model=dict(adapter.describe()),
        requests=requests,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        duration_s=time.perf_counter() - started,
    )
