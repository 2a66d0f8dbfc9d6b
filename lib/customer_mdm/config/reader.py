"""Typed, error-collecting access to one parsed YAML document.

Every config section is read through a ``Section``: each accessor checks the
type of one key and records a ``ConfigIssue`` instead of raising, so a user
sees every mistake of a file at once. ``Issues.raise_if_any`` ends loading.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from customer_mdm.errors import ConfigError, ConfigIssue

T = TypeVar("T")
_MISSING: Any = object()


class Issues:
    """Collects issues from any number of files; raises them once."""

    def __init__(self) -> None:
        self.items: list[ConfigIssue] = []

    def add(self, file: str, key: str, expected: str, got: object = None, *, found: str | None = None) -> None:
        """``got`` is a value shown as written in YAML; ``found`` describes what was there in words."""
        shown = found if found is not None else None if got is None else _show(got)
        self.items.append(ConfigIssue(file, key, expected, shown))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
            float: "a number", bool: "a boolean", type(None): "nothing"}.get(type(value), type(value).__name__)


def load_yaml(path: Path, issues: Issues) -> dict[str, Any] | None:
    """Parses one YAML file into a mapping, or records why it cannot."""
    if not path.is_file():
        issues.add(str(path), "(file)", "an existing YAML file", found="no such file")
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        issues.add(str(path), "(file)", "valid YAML", found=" ".join(str(exc).split()))
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        issues.add(str(path), "(top level)", "a mapping of keys", found=_type_name(data))
        return None
    return data


class Section:
    """A mapping inside a config file, addressed by a dotted key prefix."""

    def __init__(self, data: Mapping[str, Any], *, file: str, prefix: str, issues: Issues):
        self.data = data
        self.file = file
        self.prefix = prefix
        self.issues = issues

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self.data

    def problem(self, name: str, expected: str, got: object = None, *, found: str | None = None) -> None:
        self.issues.add(self.file, self.key(name), expected, got, found=found)

    def allow_only(self, names: Iterable[str]) -> None:
        allowed = set(names)
        for unknown in sorted(set(self.data) - allowed):
            self.issues.add(self.file, self.key(str(unknown)),
                            f"one of the known keys {sorted(allowed)}", found="an unknown key")

    def _get(self, name: str, default: Any, expected: str) -> Any:
        if name in self.data and self.data[name] is not None:
            return self.data[name]
        if default is _MISSING:
            self.problem(name, expected, found="nothing (the key is required)")
        return default

    def string(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default, "a string")
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problem(name, "a string", found=_type_name(value))
            return default if default is not _MISSING else None
        return str(value)

    def integer(self, name: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        value = self._get(name, default, "an integer")
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, "an integer", value)
            return default if default is not _MISSING else None
        if minimum is not None and value < minimum:
            self.problem(name, f"an integer >= {minimum}", value)
        return value

    def number(self, name: str, default: Any = _MISSING, *, minimum: float | None = None,
               maximum: float | None = None) -> Any:
        value = self._get(name, default, "a number")
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(name, "a number", value)
            return default if default is not _MISSING else None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.problem(name, f"a number in [{minimum}, {maximum}]", value)
        return float(value)

    def boolean(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default, "true or false")
        if value is default:
            return value
        if not isinstance(value, bool):
            self.problem(name, "true or false", value)
            return default if default is not _MISSING else None
        return value

    def choice(self, name: str, allowed: Iterable[str], default: Any = _MISSING) -> Any:
        options = list(allowed)
        value = self._get(name, default, f"one of {options}")
        if value is default:
            return value
        if value not in options:
            self.problem(name, f"one of {options}", value)
            return default if default is not _MISSING else None
        return value

    def string_list(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default, "a list of strings")
        if value is default:
            return value
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                  for v in value):
            self.problem(name, "a list of strings", value)
            return default if default is not _MISSING else ()
        return tuple(str(v) for v in value)

    def string_map(self, name: str, default: Any = _MISSING) -> Any:
        """A mapping of string keys to scalar values, returned as str -> str."""
        value = self._get(name, default, "a mapping of strings")
        if value is default:
            return value
        if not isinstance(value, dict) or not all(
                isinstance(v, (str, int, float, bool)) for v in value.values()):
            self.problem(name, "a mapping of names to plain values", value)
            return default if default is not _MISSING else {}
        return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}

    def section(self, name: str, *, required: bool = False) -> Section:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, "a mapping", found="nothing (the key is required)")
            value = {}
        elif not isinstance(value, dict):
            self.problem(name, "a mapping", found=_type_name(value))
            value = {}
        return Section(value, file=self.file, prefix=self.key(name), issues=self.issues)

    def sections(self, name: str, *, required: bool = False) -> list[Section]:
        """A list of mappings, each returned as a Section keyed ``name[i]``."""
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, "a list of mappings", found="nothing (the key is required)")
            return []
        if not isinstance(value, list):
            self.problem(name, "a list of mappings", found=_type_name(value))
            return []
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.issues.add(self.file, f"{self.key(name)}[{i}]", "a mapping", found=_type_name(item))
                continue
            out.append(Section(item, file=self.file, prefix=f"{self.key(name)}[{i}]", issues=self.issues))
        return out
