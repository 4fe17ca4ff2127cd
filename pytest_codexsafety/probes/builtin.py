"""The probe kinds that ship with the plugin; the plugin registers them through the
``pytest_codexsafety_probe_kinds`` hook like any third-party kind."""

from __future__ import annotations

from .base import ProbeKind
from .canary import CANARY, CanaryProbe
from .complexity import COMPLEXITY, ComplexityProbe
from .exec import EXEC, ExecProbe
from .ladder import LADDER, LadderProbe
from .misalignment import MISALIGNMENT, MisalignmentProbe
from .overreliance import OVERRELIANCE, OverrelianceProbe
from .refusal import REFUSAL, RefusalProbe
from .static import STATIC, StaticProbe

__all__ = [
    "BUILTIN_KINDS", "CANARY", "COMPLEXITY", "EXEC", "LADDER", "MISALIGNMENT", "OVERRELIANCE", "REFUSAL",
    "STATIC", "CanaryProbe", "ComplexityProbe", "ExecProbe", "LadderProbe", "MisalignmentProbe",
    "OverrelianceProbe", "RefusalProbe", "StaticProbe",
]

# Text-judged kinds first, then the kinds that run code in the sandbox.
BUILTIN_KINDS: tuple[ProbeKind, ...] = (
    STATIC, REFUSAL, EXEC, LADDER, COMPLEXITY, MISALIGNMENT, CANARY, OVERRELIANCE,
)
