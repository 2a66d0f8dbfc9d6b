"""The one exception hierarchy of the project.

Every error a user can meet derives from ``MdmError`` and its message says
what went wrong and what to do about it.
"""
from __future__ import annotations

from dataclasses import dataclass


class MdmError(Exception):
    """Base of every error raised on purpose by customer_mdm."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in one configuration file."""

    file: str
    key: str
    expected: str
    got: str | None = None

    def __str__(self) -> str:
        found = "" if self.got is None else f" (got {self.got})"
        return f"{self.file}: {self.key}: expected {self.expected}{found}"


class ConfigError(MdmError):
    """Configuration is invalid; raised before any write, listing every issue."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"invalid configuration ({len(self.issues)} issue(s)):\n{lines}")


class StorageError(MdmError):
    """A Delta table could not be read or written."""


class TableNotFoundError(StorageError):
    """The table does not exist at its path."""


class SchemaMismatchError(StorageError):
    """Data written to a table does not fit the table's schema."""


class CommitConflictError(StorageError):
    """A concurrent writer committed first and retries ran out."""


class UnsupportedTableFeatureError(StorageError):
    """The table uses a Delta feature this reader cannot honour (e.g. deletion vectors)."""


class SourceError(MdmError):
    """A source (files, Kafka) could not be read."""


class BrokerUnavailableError(SourceError):
    """Kafka did not answer (no connection, a request timed out); the stream job waits for it and restarts."""


class DataQualityFailure(MdmError):
    """A data-quality rule with action 'fail' was violated; nothing was written."""


class RunFailed(MdmError):
    """A job run failed; the run log row carries the same message."""
