"""Renders bench/RESULTS.md from bench/results/*.jsonl: per benchmark and workload, the latest run beside the
previous one, with the stated targets and PASS/MISS.

    python bench/render_results.py [--results bench/results] [--out bench/RESULTS.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import BENCH_DIR, PACKAGES, RESULTS_DIR

Result = dict[str, Any]
_FIELDS = {"benchmark", "workload", "figures", "targets", "machine"}
_HEADER = """# Benchmark results

Rendered by `bench/render_results.py` from `bench/results/<benchmark>.jsonl` (one JSON object per run,
appended by `bench/run_all.py` or by running a `bench/bench_*.py` script). Each table sets the latest run
of a benchmark beside the previous run of the same workload. Memory peaks are in MiB: `python` is the driver
process (exact peak), `jvm` is Spark's JVM (driver and executors in local mode; exact peak),
`python_workers` the proportional set size of the Python workers under it and `process_tree` all of them
together (both sampled each second; idle workers kept for reuse count). The load average shows how busy the machine
was: on a shared machine, read every number beside it.
"""


def load_results(folder: Path) -> dict[str, list[Result]]:
    """Every result line per benchmark, oldest first; a damaged line stops the render, naming file and line."""
    results: dict[str, list[Result]] = {}
    for file in sorted(folder.glob("*.jsonl")):
        lines = []
        for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                result = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{file}:{number}: not JSON ({exc})") from exc
            if not isinstance(result, dict):
                raise ValueError(f"{file}:{number}: expected a JSON object, found {type(result).__name__}")
            missing = _FIELDS - set(result)
            if missing:
                raise ValueError(f"{file}:{number}: result lacks {sorted(missing)}")
            lines.append(result)
        results[file.stem] = lines
    return results


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def _workload_key(workload: dict[str, Any]) -> str:
    return json.dumps(workload, sort_keys=True)


def _describe_workload(workload: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_cell(v)}" for k, v in workload.items()) or "default workload"


def _figure_cell(result: Result | None, figure: str) -> str:
    if result is None or figure not in result["figures"]:
        return ""
    verdicts = [t["verdict"] for t in result["targets"] if t["figure"] == figure]
    return " ".join([_cell(result["figures"][figure]), *(f"**{v}**" for v in verdicts)])


def _machine_rows(runs: Sequence[Result | None]) -> list[tuple[str, list[str]]]:
    def fact(result: Result | None, *keys: str) -> str:
        if result is None:
            return ""
        return " / ".join(_cell(result["machine"].get(k)) for k in keys)

    def commit(result: Result | None) -> str:
        if result is None:
            return ""
        sha = (result["machine"].get("git_commit") or "unknown")[:10]
        return f"{sha} (uncommitted changes)" if result["machine"].get("git_dirty") else sha
    return [
        ("run at (UTC)", [fact(r, "timestamp") for r in runs]),
        ("git commit", [commit(r) for r in runs]),
        ("load avg 1/5/15 min at end", [fact(r, "load_avg") for r in runs]),
        ("cores / memory GiB", [fact(r, "cores", "memory_gib") for r in runs]),
        ("python / " + " / ".join(PACKAGES), [fact(r, "python", *PACKAGES) for r in runs]),
        ("java", [fact(r, "java") for r in runs]),
    ]


def render_table(runs: Sequence[Result]) -> str:
    """Latest and previous run of one workload; figures in the order the latest run recorded them."""
    latest = runs[-1]
    previous = runs[-2] if len(runs) > 1 else None
    targets = {t["figure"]: f"{t['op']} {_cell(t['value'])}" for t in latest["targets"]}
    figures = list(latest["figures"]) + [f for f in (previous or {}).get("figures", {}) if f not in latest["figures"]]
    rows = [(f, [_figure_cell(latest, f), _figure_cell(previous, f)], targets.get(f, "")) for f in figures]
    rows += [(name, cells, "") for name, cells in _machine_rows([latest, previous])]
    lines = ["| figure | latest | previous | target |", "|---|--:|--:|---|"]
    lines += [f"| {name} | {cells[0]} | {cells[1] or '-'} | {target} |" for name, cells, target in rows]
    return "\n".join(lines)


def render(results: dict[str, list[Result]]) -> str:
    parts = [_HEADER]
    if not any(results.values()):
        parts.append("No results yet: run `make bench` (or `python bench/run_all.py --quick`).\n")
    for name, lines in sorted(results.items()):
        if not lines:
            continue
        by_workload: dict[str, list[Result]] = defaultdict(list)
        for result in lines:
            by_workload[_workload_key(result["workload"])].append(result)
        parts.append(f"## {name}\n")
        # the largest workload first: that is the one the targets are stated for
        for runs in sorted(by_workload.values(), key=lambda r: list(r[-1]["workload"].values()), reverse=True):
            verdicts = [f"{t['figure']} {t['op']} {_cell(t['value'])}: **{t['verdict']}**"
                        for t in runs[-1]["targets"]]
            count = f"{len(runs)} run" + ("s" if len(runs) > 1 else "")
            parts.append(f"### {_describe_workload(runs[-1]['workload'])} ({count})\n")
            if verdicts:
                parts.append("Latest: " + "; ".join(verdicts) + "\n")
            parts.append(render_table(runs) + "\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder of *.jsonl result files")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md", help="markdown file to write")
    args = parser.parse_args(argv)
    try:
        text = render(load_results(args.results))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
