"""Errors that end a command with exit code 2 and one clear line.

Evidence problems on a model version are never errors: they are gate failures (exit 1).
These are for the command's own inputs, the policies, the registry and the engine.
"""

from __future__ import annotations


class MlgateError(Exception):
    """Bad input, bad policy, unreachable registry or engine: exit 2, one line."""

    exit_code = 2


class InputError(MlgateError):
    """A file, option or argument the user gave is wrong."""


class PolicyError(MlgateError):
    """The policy directory or policy data is wrong (parse error, bad data, missing gate)."""


class EngineError(MlgateError):
    """The engine failed, timed out, or returned an undefined or malformed result."""


class RegistryError(MlgateError):
    """The MLflow registry is unreachable or the model version does not exist."""


class EvidenceChangedError(MlgateError):
    """The version's evidence changed between evaluation and acting on it (exit 2)."""


def one_line(text: str) -> str:
    """Collapse an exception text (Rust/HTTP errors are multi-line) into one line."""
    text = text.split("Stack backtrace:")[0]
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
