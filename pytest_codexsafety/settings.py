"""Configuration values from pytest's ini file, parsed and checked.  Pure: no pytest.

The plugin passes a getter over its ini keys so this module can be unit-tested with a
plain dict.  Every error names the setting and the accepted values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .errors import RiskConfigError
from .gate import GateSettings
from .models.builtin import ModelSettings
from .risk import DEFAULT_RISK_MODEL, RiskModel, risk_model_from_settings
from .vocab import Severity

# ini key -> (help text, default)
INI_KEYS: dict[str, tuple[str, str]] = {
    "hazard_model": ("model spec used when --hazard-model is not given", ""),
    "hazard_confidence": ("two-sided confidence of the rate intervals (0.5-0.9999)", "0.95"),
    "hazard_interval": ("interval method: wilson or clopper-pearson", "wilson"),
    "hazard_max_error_share": ("largest share of errored samples before a hazard errors", "0.1"),
    "hazard_inconclusive": ("what an inconclusive hazard does to the gate: fail or warn", "fail"),
    "hazard_seed": ("seed passed to the model in params['seed'] unless a spec sets one", "0"),
    "hazard_probability_levels": ("override probability levels, e.g. 'A:0.2 B:0.05 C:0.01 D:0.001 E:0'", ""),
    "hazard_risk_matrix": ("override the risk index matrix, one row per level: 'A: 1 3 7 13'", ""),
    "hazard_acceptance_bands": ("override acceptance bands, e.g. 'unacceptable:1-5 ...'", ""),
    "hazard_concurrency": ("model requests in flight at once per hazard (adapters may allow fewer)", "8"),
    "hazard_request_timeout": ("seconds before one model request times out", "60"),
    "hazard_max_retries": ("retries of a failed model request (429, 5xx, resets, timeouts)", "5"),
    "hazard_openai_base_url": ("base URL of an OpenAI-compatible endpoint (else OPENAI_BASE_URL)", ""),
    "hazard_openai_api_key_env": ("NAME of the environment variable holding the API key", "OPENAI_API_KEY"),
    "hazard_openai_api": ("chat or completions", "chat"),
    "hazard_cache": ("completion cache file, or off", ".codexsafety/cache.sqlite3"),
    "hazard_profile": ("default (the specs' sample counts: a quick screen) or full (more samples, "
                       "for real gating)", "default"),
    "hazard_full_scale": ("how many times each spec's samples the full profile draws", "5"),
    "hazard_sampling": ("fixed (draw every planned sample) or sequential (draw in batches and stop "
                        "once an anytime-valid confidence sequence decides; the plan is the cap); a spec's "
                        "probe.sampling overrides it", "sequential"),
    "hazard_batch": ("sequential sampling: samples per look, rounded up to whole rounds over the "
                     "prompts (0: hazard_concurrency)", "0"),
    "hazard_regression_alpha": ("significance level of the one-sided test for a regression against "
                                "--hazard-baseline (0 < alpha <= 0.5)", "0.05"),
    "hazard_fail_on_regression": ("true: a regression against --hazard-baseline fails the gate",
                                  "false"),
}

PROFILES = ("default", "full")
SAMPLING = ("fixed", "sequential")

Getter = Callable[[str], str]


@dataclass(frozen=True)
class Settings:
    # Sequential sampling unless asked otherwise (issue 6); GateSettings alone, the
    # library-level default, stays fixed-n.
    gate: GateSettings = field(default_factory=lambda: GateSettings(sampling="sequential"))
    risk_model: RiskModel = DEFAULT_RISK_MODEL
    seed: int = 0
    model: ModelSettings = field(default_factory=ModelSettings)
    profile: str = "default"
    # Samples per prompt are the spec's times this (1 in the default profile).
    samples_scale: int = 1
    # --hazard-sampling: overrides even a spec's own probe.sampling (None: not given).
    sampling_override: str | None = None

    def gate_for(self, spec_sampling: str | None) -> GateSettings:
        """The gate settings for one spec: the command line, else the spec's own
        ``probe.sampling``, else ini ``hazard_sampling``."""
        mode = self.sampling_override or spec_sampling or self.gate.sampling
        return self.gate if mode == self.gate.sampling else replace(self.gate, sampling=mode)

    def describe(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "samples_scale": self.samples_scale,
            "confidence": self.gate.confidence,
            # The interval the gate reads (sequential: the confidence sequence).
            "interval_method": self.gate.interval_method,
            "sampling": self.gate.sampling,
            "batch": self.gate.batch,
            "max_error_share": self.gate.max_error_share,
            "inconclusive": self.gate.inconclusive,
            "seed": self.seed,
            "probability_levels": {lvl.code: lvl.min_rate for lvl in self.risk_model.levels},
            # The whole model, so every risk index in the register can be reproduced.
            "risk_matrix": {
                lvl.code: [self.risk_model.risk_index(lvl.code, sev) for sev in Severity]
                for lvl in self.risk_model.levels
            },
            "acceptance_bands": [
                {"acceptance": acc.value, "low": low, "high": high}
                for low, high, acc in self.risk_model.bands
            ],
        }


def _float(get: Getter, key: str, low: float, high: float) -> float:
    raw = get(key).strip()
    try:
        value = float(raw)
    except ValueError:
        raise RiskConfigError(f"{key} = {raw!r} is not a number (expected {low}..{high})") from None
    if not low <= value <= high:
        raise RiskConfigError(f"{key} = {raw!r} is out of range (expected {low}..{high})")
    return value


def _int(get: Getter, key: str, minimum: int | None) -> int:
    raw = get(key).strip()
    try:
        value = int(raw)
    except ValueError:
        raise RiskConfigError(f"{key} = {raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise RiskConfigError(f"{key} = {raw!r} must be at least {minimum}")
    return value


def _choice(get: Getter, key: str, choices: tuple[str, ...]) -> str:
    raw = get(key).strip().lower()
    if raw not in choices:
        raise RiskConfigError(f"{key} = {raw!r} is not one of: {', '.join(choices)}")
    return raw


def settings_from_ini(get: Getter) -> Settings:
    """Build settings from string values; an empty string means the default."""

    def value(key: str) -> str:
        return get(key).strip() or INI_KEYS[key][1]

    seed = _int(value, "hazard_seed", None)
    gate = GateSettings(
        confidence=_float(value, "hazard_confidence", 0.5, 0.9999),
        method=_choice(value, "hazard_interval", ("wilson", "clopper-pearson")),
        max_error_share=_float(value, "hazard_max_error_share", 0.0, 1.0),
        inconclusive=_choice(value, "hazard_inconclusive", ("fail", "warn")),
        sampling=_choice(value, "hazard_sampling", SAMPLING),
        batch=_int(value, "hazard_batch", 0),
    )
    risk_model = risk_model_from_settings(
        levels=get("hazard_probability_levels").strip() or None,
        matrix=get("hazard_risk_matrix").strip() or None,
        bands=get("hazard_acceptance_bands").strip() or None,
    )
    model = ModelSettings(
        concurrency=_int(value, "hazard_concurrency", 1),
        timeout_s=_float(value, "hazard_request_timeout", 0.1, 3600.0),
        max_retries=_int(value, "hazard_max_retries", 0),
        openai_base_url=get("hazard_openai_base_url").strip() or None,
        openai_api_key_env=value("hazard_openai_api_key_env"),
        openai_api=_choice(value, "hazard_openai_api", ("chat", "completions")),
    )
    profile = _choice(value, "hazard_profile", PROFILES)
    scale = _int(value, "hazard_full_scale", 1)
    return Settings(gate=gate, risk_model=risk_model, seed=seed, model=model, profile=profile,
                    samples_scale=scale if profile == "full" else 1)


BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
            "false": False, "no": False, "off": False, "0": False}


def regression_settings_from_ini(get: Getter) -> tuple[float, bool]:
    """``(hazard_regression_alpha, hazard_fail_on_regression)`` for baseline comparison."""
    raw = get("hazard_regression_alpha").strip() or INI_KEYS["hazard_regression_alpha"][1]
    try:
        alpha = float(raw)
    except ValueError:
        raise RiskConfigError(
            f"hazard_regression_alpha = {raw!r} is not a number (expected 0 < alpha <= 0.5)") from None
    if not 0.0 < alpha <= 0.5:
        raise RiskConfigError(f"hazard_regression_alpha = {raw!r} is out of range (expected 0 < alpha <= 0.5)")
    flag = (get("hazard_fail_on_regression").strip() or INI_KEYS["hazard_fail_on_regression"][1]).lower()
    if flag not in BOOLEANS:
        raise RiskConfigError(f"hazard_fail_on_regression = {flag!r} is not one of: true, false")
    return alpha, BOOLEANS[flag]
