"""Exception hierarchy. Every error names the field, line or file at fault."""
from __future__ import annotations


class ReviewNLPError(Exception):
    """Base class of every error raised on purpose by reviewnlp."""


class InputError(ReviewNLPError, ValueError):
    """Bad input: names the ``field`` (and optionally the ``line``) at fault."""

    def __init__(self, message: str, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.field = field
        self.line = line


class ModelError(ReviewNLPError):
    """A model artifact is missing, corrupt, tampered with or incompatible."""


class PolicyError(ReviewNLPError, ValueError):
    """A routing policy is invalid; the message names the key."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class StoreError(ReviewNLPError):
    """The escalation store cannot durably record or read something."""
