"""Secret references in configuration: ``env:NAME`` (an environment variable) or ``file:/path`` (a secret file).

YAML holds only where a secret lives, never the secret: Kafka passwords and the
export's hash salt are resolved when a client or an export needs them, so no
config object, log line or error message carries one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MASK = "***"
#: The 'expected ...' part of a config issue about a secret written as a literal.
EXPECTED_REFERENCE = "a reference env:VARIABLE or file:/path/to/secret (secrets never live in YAML)"


@dataclass(frozen=True)
class Secret:
    """A resolved secret that prints as ``***`` (repr, str, f-strings), so it cannot reach a log line by accident."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def resolve_reference(value: str) -> str:
    """What a reference points to (any other value as is); a secret file's trailing line break is not part of it.

    LookupError names the variable or file that failed ("environment variable X, which is not set"), never a secret.
    """
    if value.startswith("env:"):
        variable = value[4:]
        if variable not in os.environ:
            raise LookupError(f"environment variable {variable}, which is not set")
        return os.environ[variable]
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise LookupError(f"secret file {path}, which cannot be read ({exc.strerror})") from None
    return value
