"""Long stages show progress: while a stage runs, its label and the running Spark stages' task counts."""
from __future__ import annotations

import logging
import re
import time

from customer_mdm.progress import stage_progress


def test_a_long_stage_logs_its_spark_tasks_while_it_runs_and_a_short_one_nothing(spark, caplog):
    caplog.set_level(logging.INFO, logger="customer_mdm.progress")
    with stage_progress(spark, "silver crm", every=0.7):
        assert spark.sparkContext.parallelize(range(6), 6).map(lambda x: time.sleep(1.0) or x).sum() == 15
    lines = [r.getMessage() for r in caplog.records]
    assert lines, "no progress line during a ~3 s stage"
    assert all(re.fullmatch(r"silver crm: running for \d+s: .+", line) for line in lines), lines
    # the 6-task stage with its finished and running tasks (Spark may count a finishing task as still running)
    assert any(re.search(r"stage \d+: [0-6]/6 tasks \([1-9] running\)", line) for line in lines), lines

    caplog.clear()
    with stage_progress(spark, "gold", every=30):
        spark.range(3).count()
    assert not caplog.records
