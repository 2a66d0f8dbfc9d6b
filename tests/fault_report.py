"""The fault table: what each fault-injection test injected, what the product must do, what the test observed.

A fault test takes the ``fault_report`` fixture (tests/conftest.py) and
records one row per fault it injected, with the counts it measured (records
checked, lost, duplicated), after its assertions passed. At the end of a run
of the whole suite in which every test passed, the table replaces the block
between the markers in README.md, so the README shows what the last green
run observed; a partial or failing run only prints it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- fault-table:begin (written by the test suite: tests/fault_report.py) -->"
END = "<!-- fault-table:end -->"


@dataclass(frozen=True)
class FaultRow:
    fault: str
    expected: str
    observed: str
    checked: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    test: str = ""


@dataclass
class FaultReport:
    rows: list[FaultRow] = field(default_factory=list)

    def add(self, row: FaultRow) -> None:
        self.rows.append(row)

    def totals(self) -> tuple[int, int, int, int]:
        """(faults injected, records checked, lost, duplicated) over every row that counted records."""
        counted = [r for r in self.rows if r.checked is not None]
        return (len(self.rows), sum(r.checked or 0 for r in counted), sum(r.lost or 0 for r in counted),
                sum(r.duplicated or 0 for r in counted))

    def markdown(self, *, when: dt.datetime) -> str:
        """Rows grouped by test file (in the order each file recorded them), whichever worker ran the file."""
        def cell(value: object) -> str:
            return "-" if value is None else str(value).replace("|", "\\|")

        lines = ["| fault injected | expected behaviour | observed by the test | records checked | lost | duplicated |"
                 " test |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {cell(r.fault)} | {cell(r.expected)} | {cell(r.observed)} | {cell(r.checked)} | {cell(r.lost)} "
                  f"| {cell(r.duplicated)} | `{r.test}` |" for r in sorted(self.rows, key=lambda r: r.test)]
        faults, checked, lost, duplicated = self.totals()
        lines.append(f"\n{faults} faults injected, {checked:,} records checked, {lost} lost, {duplicated} duplicated "
                     f"(run of {when:%Y-%m-%d %H:%M} UTC).")
        return "\n".join(lines)


def write_into(readme: Path, table: str) -> bool:
    """Replaces the block between the markers; False (and nothing written) when the markers are missing."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return False
    readme.write_text(text[:start + len(BEGIN)] + "\n" + table + "\n" + text[end:], encoding="utf-8")
    return True
