"""Runs every bench/bench_*.py in its own process (a fresh JVM each), then renders bench/RESULTS.md.

    python bench/run_all.py            # default sizes (1M records, 5M rows): tens of minutes on 2 cores
    python bench/run_all.py --quick    # small sizes: proves the harness in a few minutes

Benchmark logs pass through on stderr; each benchmark's one JSON result is
checked and summarised. Exit code 1 when a benchmark failed or printed no
result; a missed target is reported, not failed, since a shared machine's
load moves the numbers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import render_results
from harness import BENCH_DIR, REPO


def run_one(script: str, *, quick: bool) -> tuple[bool, str]:
    """(succeeded, one-line summary) for one benchmark script."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(BENCH_DIR / script), *(["--quick"] if quick else [])],
                          cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0:
        return False, f"{script}: FAILED (exit {done.returncode}) after {seconds:.0f}s"
    try:
        if len(lines) != 1:
            raise ValueError(f"expected one JSON line on stdout, got {len(lines)}")
        result = json.loads(lines[0])
        verdicts = [f"{t['figure']} {t['op']} {t['value']}: {t['verdict']}" for t in result["targets"]]
    except (ValueError, KeyError, TypeError) as exc:
        return False, f"{script}: FAILED: no usable result ({exc})"
    return True, f"{script}: done in {seconds:.0f}s" + (f" ({'; '.join(verdicts)})" if verdicts else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for every benchmark")
    args = parser.parse_args(argv)
    scripts = sorted(p.name for p in BENCH_DIR.glob("bench_*.py"))
    outcomes = []
    for script in scripts:
        print(f"== {script}", file=sys.stderr, flush=True)
        outcomes.append(run_one(script, quick=args.quick))
    rendered = render_results.main([])
    print("\n".join(summary for _, summary in outcomes))
    return 0 if rendered == 0 and all(ok for ok, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
