"""``python:module:function`` — the user's own function is the model.

The function is called as ``function(prompt, params)`` and must return the completion
text.  ``params`` carries the spec's generation parameters plus ``sample_index``,
``prompt_index``, ``hazard_id`` and ``seed`` so a function can vary per sample.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import ModelConfigError, ModelError
from .base import Completion, CompletionRequest

PREFIX = "python:"


def _import_module(module_name: str, search_root: Path | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The user's model usually lives in their project, which is not always on
        # sys.path: retry once from the rootdir, as pytest's rootdir conftests would.
        missing_is_target = exc.name is not None and module_name.startswith(exc.name)
        if search_root is None or not missing_is_target or str(search_root) in sys.path:
            raise
        sys.path.insert(0, str(search_root))
        return importlib.import_module(module_name)


class PythonFunctionAdapter:
    """Calls a Python function in this process.  The function is trusted user code."""

    def __init__(self, target: str, function: Callable[..., Any]) -> None:
        self.name = PREFIX + target
        self._target = target
        self._function = function

    @classmethod
    def from_spec(cls, spec: str, search_root: Path | None = None) -> "PythonFunctionAdapter":
        target = spec[len(PREFIX):]
        module_name, sep, attr = target.partition(":")
        if not sep or not module_name or not attr:
            raise ModelConfigError(
                f"model spec {spec!r} is not of the form python:MODULE:FUNCTION "
                "(for example python:mymodels.toy:complete)"
            )
        try:
            module = _import_module(module_name, search_root)
        except Exception as exc:  # any import-time failure of user code is a config fault
            raise ModelConfigError(
                f"model {spec!r}: cannot import module {module_name!r}: "
                f"{type(exc).__name__}: {exc} (is it on sys.path? set `pythonpath` in your "
                "pytest configuration)"
            ) from None
        function: Any = module
        for part in attr.split("."):
            function = getattr(function, part, None)
            if function is None:
                raise ModelConfigError(
                    f"model {spec!r}: module {module_name!r} has no attribute {attr!r}"
                )
        if not callable(function):
            raise ModelConfigError(f"model {spec!r}: {attr!r} is not callable")
        return cls(target, function)

    def describe(self) -> Mapping[str, Any]:
        return {"adapter": "python", "name": self._target}

    def complete(self, request: CompletionRequest) -> Completion:
        params = dict(request.params)
        # Assigned, not defaulted: a spec's params must never be able to pin the sample
        # index (a model varying per sample would then look uniformly safe).
        params["sample_index"] = request.sample_index
        params["prompt_index"] = request.prompt_index
        params["hazard_id"] = request.hazard_id
        try:
            text = self._function(request.prompt, params)
        except Exception as exc:
            raise ModelError(f"{self.name} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(text, str):
            raise ModelError(
                f"{self.name} returned {type(text).__name__}, expected the completion as str"
            )
        return Completion(text=text)

    def close(self) -> None:
        return None
