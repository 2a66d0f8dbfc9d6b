"""Export settings, ``export:`` in operations.yaml: which table, which file format, how each PII column leaves.

Layout::

    export:
      table: gold.golden_record     # what jobs/export.py exports without --table (a gold or silver table)
      format: csv                   # csv | json (JSON lines) | parquet
      files: 1                      # at most this many part files per export
      pii:
        salt: env:MDM_EXPORT_SALT   # key of `hash`: a reference (env:NAME or file:/path), never the secret
        tables:                     # per table: column -> hash | mask | drop | keep
          gold.golden_record: {email: hash, emails: hash, phone_e164: mask, date_of_birth: drop}

Policies are per table because tables differ in columns (``emails`` is gold's
array, silver has one ``email``) and a configured column a table lacks is an
error, not a silent no-op. Whether each column exists, and that every PII
column of a table is named, is checked against the table's schema when an
export starts (``customer_mdm.ops.export.checked_policy``). The salt is read
only when a column is hashed (``resolve_salt``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from customer_mdm.config.reader import Section
from customer_mdm.config.secrets import EXPECTED_REFERENCE, MASK, Secret, is_reference, resolve_reference
from customer_mdm.errors import ConfigError, ConfigIssue

ExportFormat = Literal["csv", "json", "parquet"]
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "parquet")
PiiMethod = Literal["hash", "mask", "drop", "keep"]
PII_METHODS: tuple[str, ...] = ("hash", "mask", "drop", "keep")
DEFAULT_TABLE = "gold.golden_record"
#: A shorter salt lets anyone holding an export test guessed salts against known values.
MIN_SALT_CHARS = 16
SALT_KEY = "export.pii.salt"
EXPECTED_TABLE = "a gold or silver table such as gold.golden_record"
_TABLE = re.compile(r"^(gold|silver)\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PiiPolicy:
    """How the configured columns of one table leave an export; ``key`` names where it was configured, for errors."""

    table: str
    columns: Mapping[str, PiiMethod] = field(default_factory=dict)
    key: str = ""

    def with_method(self, method: PiiMethod) -> tuple[str, ...]:
        return tuple(column for column, how in self.columns.items() if how == method)


@dataclass(frozen=True)
class ExportConfig:
    """``salt`` is the reference as written (``env:NAME``), safe to print; the secret comes from ``resolve_salt``."""

    file: Path
    table: str = DEFAULT_TABLE
    format: ExportFormat = "csv"
    files: int = 1
    salt: str | None = None
    policies: Mapping[str, PiiPolicy] = field(default_factory=dict)


def is_export_table(name: str) -> bool:
    """Exports read gold and silver only: bronze and ops hold raw values under source-specific column names."""
    return bool(_TABLE.match(name))


def export_settings(s: Section) -> ExportConfig:
    """The ``export`` section; mistakes go to the section's issues."""
    s.allow_only(["table", "format", "files", "pii"])
    d = ExportConfig(file=Path(s.file))
    table = s.string("table", d.table)
    if not is_export_table(table):
        s.problem("table", EXPECTED_TABLE, table)
    pii = s.section("pii")
    pii.allow_only(["salt", "tables"])
    salt = pii.string("salt", None)
    if salt is not None and not is_reference(salt):
        pii.problem("salt", EXPECTED_REFERENCE, MASK)
    tables = pii.section("tables")
    policies = {str(name): _policy(tables, str(name)) for name in tables.data}
    hashed = [f"{p.table}.{c}" for p in policies.values() for c in p.with_method("hash")]
    if salt is None and hashed:
        pii.problem("salt", EXPECTED_REFERENCE, found=f"nothing, and {hashed[0]} is hashed")
    return ExportConfig(file=d.file, table=table, format=s.choice("format", EXPORT_FORMATS, d.format),
                        files=s.integer("files", d.files, minimum=1), salt=salt, policies=policies)


def _policy(tables: Section, table: str) -> PiiPolicy:
    if not is_export_table(table):
        tables.problem(table, EXPECTED_TABLE, found="a table name outside gold and silver")
    columns = tables.section(table)
    methods = {str(column): columns.choice(str(column), PII_METHODS) for column in columns.data}
    return PiiPolicy(table=table, columns={c: m for c, m in methods.items() if m is not None}, key=columns.prefix)


def resolve_salt(config: ExportConfig) -> Secret:
    """The key of ``hash``; ConfigError names the file, the key and the variable or file, never the secret."""
    try:
        if config.salt is None:
            raise LookupError("nothing")
        value = resolve_reference(config.salt)
        if len(value) < MIN_SALT_CHARS:
            raise LookupError("a shorter secret")
    except LookupError as exc:
        raise ConfigError([ConfigIssue(str(config.file), SALT_KEY, f"a reference to a secret of at least "
                                       f"{MIN_SALT_CHARS} characters", str(exc))]) from None
    return Secret(value)
