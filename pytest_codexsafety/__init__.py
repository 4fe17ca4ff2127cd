"""pytest-codexsafety: gate code-generating language models on safety hazards."""

__version__ = "0.1.0"
