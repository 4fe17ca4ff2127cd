"""Exceptions and the one warning class of pytest-codexsafety.

Every error the plugin raises on purpose derives from :class:`CodexSafetyError`, so the
pytest glue can turn it into a readable message instead of a traceback from inside the
plugin.  Nothing here imports pytest.
"""

from __future__ import annotations


class CodexSafetyWarning(UserWarning):
    """Base class of every warning pytest-codexsafety emits."""


class CodexSafetyError(Exception):
    """Base class of the plugin's own errors; its message is meant for the user."""


class SpecError(CodexSafetyError):
    """A hazard specification is malformed.

    Carries where (file, 1-based line and column), which key, what was wrong and how to
    fix it, so the message can point a user straight at the offending YAML.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.key:
            text += f"'{self.key}': "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ModelError(CodexSafetyError):
    """The model adapter could not produce a completion (or could not be set up)."""


class FatalModelError(ModelError):
    """A fault that invalidates the whole hazard run (a stale recording, say), not just
    one sample: the item errors at once."""


class BudgetExhaustedError(ModelError):
    """The session's request budget is spent: sampling stops, and a hazard cut short is
    never passed."""


class ModelConfigError(FatalModelError):
    """No usable model is configured; the message says how to configure one."""


class RiskConfigError(CodexSafetyError):
    """The risk model configuration (levels, matrix, bands) is invalid."""


class ProbeError(CodexSafetyError):
    """A probe could not classify a sample because of a fault in the machinery."""
