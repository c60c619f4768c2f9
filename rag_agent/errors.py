"""One error type for everything a user can get wrong.

Every message names the bad value, what was expected, and the fix, on one line, so the CLI
can print it without a traceback.
"""

from __future__ import annotations


class RagloopError(Exception):
    """A user-facing failure: `value` was wrong, `expected` says what is right, `fix` says what to do."""

    def __init__(self, value: object, expected: str, fix: str):
        self.value = value
        self.expected = expected
        self.fix = fix
        super().__init__(f"{value}: expected {expected}; fix: {fix}")


class ConfigError(RagloopError):
    """A configuration value or file is invalid."""


class ModelError(RagloopError):
    """A bundled model cannot be found, assembled or verified."""


class IndexError_(RagloopError):
    """A vector index is missing, corrupt, or was built by another embedder."""


class LLMError(RagloopError):
    """A chat model is unreachable or keeps answering malformed output."""


class DataError(RagloopError):
    """An input file (corpus, suite, task file) is missing or malformed."""


class WorkspaceBusyError(RagloopError):
    """Another process held the workspace database for longer than `workspace.lock_wait_s`."""


class LLMUnavailableError(LLMError):
    """The chat model's endpoint stayed unreachable through every transport retry (an outage, not
    the task's fault): a run records such tasks as retryable and retries them when resumed."""
