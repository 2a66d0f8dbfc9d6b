"""Every job's --help: exits 0 without starting Spark, shows its examples and the exit codes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from customer_mdm.cli import EXIT_CODES

REPO = Path(__file__).resolve().parents[1]
JOBS = sorted(p for p in (REPO / "jobs").glob("*.py"))


def test_every_job_has_help_with_examples_and_exit_codes():
    assert {p.stem for p in JOBS} >= {"batch_job", "stream_job", "generate_sample", "produce_events", "train_model",
                                      "evaluate", "maintain", "health"}
    running = {job.stem: subprocess.Popen([sys.executable, str(job), "--help"], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True) for job in JOBS}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (name, err)
        examples = out.split("\nexamples:\n", 1)[1].split("\n\nexit codes:\n", 1)[0]
        commands = [line.strip() for line in examples.splitlines() if not line.strip().startswith("#")]
        assert commands and all(f"jobs/{name}.py" in c for c in commands), (name, examples)
        codes = out.split("\n\nexit codes:\n", 1)[1].splitlines()
        assert [line.split()[0] for line in codes[:3]] == ["0", "1", "2"], (name, out)
        assert "--quiet" in out and "--verbose" in out
        assert "SparkSession" not in err and "Using Spark" not in err, name


def test_the_shared_exit_codes_and_a_jobs_own_wording():
    out = subprocess.run([sys.executable, str(REPO / "jobs" / "health.py"), "--help"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.endswith("exit codes:\n  0  every check OK or WARN\n"
                        "  1  at least one check in BREACH (or the lake could not be read)\n"
                        f"  2  {EXIT_CODES[2]}\n")


def test_quiet_and_verbose_exclude_each_other():
    done = subprocess.run([sys.executable, str(REPO / "jobs" / "maintain.py"), "--quiet", "--verbose"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "argument --verbose: not allowed with argument --quiet" in done.stderr
