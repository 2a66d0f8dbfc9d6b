"""Shared benchmark plumbing: machine facts, peak memory of the process tree, one JSON line per result.

A benchmark begins with ``start`` (flags, logging, stdout reserved for the
result), measures its phases inside ``ProcessTreeMonitor`` and ends with
``record(name, figures, ...)``, which prints ONE JSON object on stdout (logs
go to stderr) and appends the same object as one line to
``bench/results/<name>.jsonl``; ``render_results.py`` turns those files into
RESULTS.md. Every line carries its workload, its targets and the machine it
ran on, so an old line stays readable after the benchmark changes.

Memory figures read Linux /proc: VmHWM is the kernel's own high-water mark,
so the peak of a process that is alive when a phase ends is exact; sums over
several processes are sampled and can miss a spike between two samples.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

from customer_mdm.logs import configure_logging

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PACKAGES = ("pyspark", "deltalake", "pyarrow")
_MIB = 1024 * 1024
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

log = logging.getLogger(__name__)
_result_out: TextIO | None = None  # the process's real stdout once ``start`` has moved descriptor 1 to stderr


@dataclass(frozen=True)
class Target:
    """A goal a benchmark states for one of its figures; stored with every result it judged."""

    figure: str
    op: Literal[">=", "<=", "<"]
    value: float

    def describe(self) -> str:
        return f"{self.figure} {self.op} {self.value:g}"

    def verdict(self, figures: Mapping[str, Any]) -> Literal["PASS", "MISS"]:
        measured = float(figures[self.figure])
        met = {">=": measured >= self.value, "<=": measured <= self.value, "<": measured < self.value}[self.op]
        return "PASS" if met else "MISS"


def start(description: str, **sizes: tuple[int, int]) -> argparse.Namespace:
    """Begins a benchmark: logging to stderr, stdout kept for the result, and its flags parsed.

    Sizes are (default, quick default) and become ``--<size> N`` flags; ``--quick`` picks the small ones.
    """
    _keep_stdout_for_result()
    configure_logging()
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: proves the benchmark runs, the numbers mean little")
    for name, (full, quick) in sizes.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=None,
                            help=f"default {full:,} ({quick:,} with --quick)")
    args = parser.parse_args()
    for name, (full, quick) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive number")
    return args


def _keep_stdout_for_result() -> None:
    """Points file descriptor 1 at stderr and keeps the real stdout for ``record`` alone.

    Spark's JVM and Python workers inherit descriptor 1 and print warnings on
    it; done before the session starts, the result stays the only stdout line.
    """
    global _result_out
    if _result_out is None:
        sys.stdout.flush()
        _result_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _java_version() -> str | None:
    """First line of ``java -version``: the JVM Spark runs on changes its speed."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else "java"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    lines = done.stderr.strip().splitlines()
    return lines[0] if lines else None


def machine_facts() -> dict[str, Any]:
    """Where and on what a result was measured (load average now, which includes the benchmark itself)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "java": _java_version(),
        **{package: version(package) for package in PACKAGES},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def _read_kib(path: str, fields: str) -> dict[str, int]:
    """``Name: N kB`` lines of a /proc file; empty once the process has gone."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    return {k: int(v) for k, v in re.findall(rf"^({fields}):\s+(\d+) kB", text, flags=re.MULTILINE)}


def _status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the kernel's peak) of a process."""
    return _read_kib(f"/proc/{pid}/status", "VmRSS|VmHWM")


def _pss_kib(pid: int) -> int:
    """Proportional set size: forked Python workers share the daemon's pages, which RSS would count in each."""
    return _read_kib(f"/proc/{pid}/smaps_rollup", "Pss").get("Pss", 0)


@dataclass(frozen=True)
class _Proc:
    ppid: int
    comm: str
    cpu_ticks: int  # user + system time of the process itself (reaped children not included)


def _processes() -> dict[int, _Proc]:
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and ')'
        found[int(stat.parent.name)] = _Proc(ppid=int(fields[1]), comm=text[text.index("(") + 1:text.rindex(")")],
                                             cpu_ticks=int(fields[11]) + int(fields[12]))
    return found


def _tree(root: int, processes: Mapping[int, _Proc]) -> list[int]:
    """The root and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid, proc in processes.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _reset_peak(pid: int) -> bool:
    """Restarts the kernel's VmHWM of a process (Linux >= 4.0), so a phase reports its own peak."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class ProcessTreeMonitor:
    """Peak memory and CPU time of this process (the driver's Python side) and of everything it started:
    Spark's JVM (the driver in local mode, which runs the executors too) and the Python workers under it;
    plus the 1-minute load average while the phase ran. On a shared machine CPU seconds stay comparable
    when wall seconds do not."""

    interval: float = 1.0  # reading a worker's PSS walks its page tables: sampling costs CPU the benchmark needs
    driver_peak_kib: int = 0
    jvm_peak_kib: int = 0
    workers_peak_kib: int = 0
    tree_peak_kib: int = 0
    load_at_start: float = 0.0
    load_max: float = 0.0
    peaks_reset: bool = False
    _ticks_at_start: dict[int, int] = field(default_factory=dict)
    _ticks_last: dict[int, int] = field(default_factory=dict)
    _own_cpu: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProcessTreeMonitor:
        processes = _processes()
        tree = _tree(os.getpid(), processes)
        self.peaks_reset = all([_reset_peak(pid) for pid in tree])
        if not self.peaks_reset:
            log.warning("could not reset peak RSS (/proc/<pid>/clear_refs): peaks count from process start")
        self._ticks_at_start = {pid: processes[pid].cpu_ticks for pid in tree}
        self.load_at_start = self.load_max = os.getloadavg()[0]
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        started = time.thread_time()
        me = os.getpid()
        processes = _processes()
        tree = _tree(me, processes)
        self._ticks_last |= {pid: processes[pid].cpu_ticks for pid in tree}
        jvm_pids = [pid for pid in tree if processes[pid].comm == "java"]
        worker_pids = [pid for pid in tree if pid != me and pid not in jvm_pids]
        driver = _status_kib(me)
        jvms = [_status_kib(pid) for pid in jvm_pids]
        self.driver_peak_kib = max(self.driver_peak_kib, driver.get("VmHWM", 0))
        self.jvm_peak_kib = max([self.jvm_peak_kib, *(s.get("VmHWM", 0) for s in jvms)])
        workers_now = sum(_pss_kib(pid) for pid in worker_pids)
        self.workers_peak_kib = max(self.workers_peak_kib, workers_now)
        tree_now = driver.get("VmRSS", 0) + sum(s.get("VmRSS", 0) for s in jvms) + workers_now
        self.tree_peak_kib = max(self.tree_peak_kib, tree_now)
        self.load_max = max(self.load_max, os.getloadavg()[0])
        self._own_cpu += time.thread_time() - started

    @property
    def cpu_seconds(self) -> float:
        """CPU of the whole tree during the phase, less the monitor's own; a process that ended between two
        samples counts up to the last sample that saw it."""
        ticks = sum(last - self._ticks_at_start.get(pid, 0) for pid, last in self._ticks_last.items())
        return round(ticks / os.sysconf("SC_CLK_TCK") - self._own_cpu, 2)

    def figures(self) -> dict[str, Any]:
        """Peaks in MiB: ``python`` and ``jvm`` are exact high-water marks; ``workers`` (PSS) and ``tree``
        (their sum with the RSS of the driver and JVM) are sampled, and include idle workers kept for reuse."""
        def mib(kib: int) -> float:
            return round(kib * 1024 / _MIB, 1)
        return {
            "cpu_seconds": self.cpu_seconds,
            "python_peak_rss_mib": mib(self.driver_peak_kib),
            "jvm_peak_rss_mib": mib(self.jvm_peak_kib),
            "python_workers_peak_pss_mib": mib(self.workers_peak_kib),
            "process_tree_peak_mib": mib(self.tree_peak_kib),
            "load_1m_start": round(self.load_at_start, 2),
            "load_1m_max": round(self.load_max, 2),
        }


def folder_mib(path: Path) -> float:
    """Bytes on disk under a folder, to compare what two writers produced."""
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / _MIB, 1)


def record(name: str, figures: Mapping[str, Any], *, workload: Mapping[str, Any] | None = None,
           targets: Iterable[Target] = ()) -> dict[str, Any]:
    """Prints the result as one JSON object and appends it to ``bench/results/<name>.jsonl``."""
    if not _NAME.match(name):
        raise ValueError(f"benchmark name {name!r} must be a lower-case identifier (it names the results file)")
    missing = [t.figure for t in targets if t.figure not in figures]
    if missing:
        raise ValueError(f"benchmark {name}: targets name figures it did not measure: {missing}")
    result = {
        "benchmark": name,
        "workload": dict(workload or {}),
        "figures": dict(figures),
        "targets": [{"figure": t.figure, "op": t.op, "value": t.value, "verdict": t.verdict(figures)}
                    for t in targets],
        "machine": machine_facts(),
    }
    line = json.dumps(result)
    print(line, file=_result_out or sys.stdout, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with (RESULTS_DIR / f"{name}.jsonl").open("a", encoding="utf-8") as out:
        out.write(line + "\n")
    return result


def timed(started: float) -> float:
    """Seconds since a ``time.perf_counter()`` reading, rounded for the record."""
    return round(time.perf_counter() - started, 3)
