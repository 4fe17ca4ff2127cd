"""The probe kinds that ship with the plugin; the plugin registers them through the
``pytest_codexsafety_probe_kinds`` hook like any third-party kind."""

from __future__ import annotations

from .base import ProbeKind
from .exec import EXEC, ExecProbe
from .refusal import REFUSAL, RefusalProbe
from .static import STATIC, StaticProbe

__all__ = ["BUILTIN_KINDS", "EXEC", "REFUSAL", "STATIC", "ExecProbe", "RefusalProbe", "StaticProbe"]

BUILTIN_KINDS: tuple[ProbeKind, ...] = (STATIC, REFUSAL, EXEC)
