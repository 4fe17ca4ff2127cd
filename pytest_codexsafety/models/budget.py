"""A session-wide cap on model requests (``--hazard-max-requests``).

Wraps the adapter beneath the cache, so cached completions cost nothing; once the budget
is spent every further request raises :class:`BudgetExhaustedError`, which the runner
turns into a clean stop (the hazard is then never passed).
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

from ..errors import BudgetExhaustedError
from .base import Completion, CompletionRequest, ModelAdapter


class RequestBudget:
    """A thread-safe countdown shared by every adapter of one process."""

    def __init__(self, max_requests: int) -> None:
        self.max_requests = max_requests
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.used >= self.max_requests:
                return False
            self.used += 1
            return True


class BudgetedAdapter:
    def __init__(self, inner: ModelAdapter, budget: RequestBudget) -> None:
        self.inner = inner
        self.budget = budget
        self.name = inner.name

    @property
    def max_concurrency(self) -> int:
        return int(getattr(self.inner, "max_concurrency", 1))

    def describe(self) -> Mapping[str, Any]:
        return self.inner.describe()

    def complete(self, request: CompletionRequest) -> Completion:
        if not self.budget.take():
            raise BudgetExhaustedError(
                f"request budget of {self.budget.max_requests} model requests is spent"
            )
        return self.inner.complete(request)

    def close(self) -> None:
        self.inner.close()
