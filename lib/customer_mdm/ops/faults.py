"""Named crash points for fault-injection tests.

``MDM_KILL_AT=<name>`` SIGKILLs the whole job (driver, Spark's JVM and its
Python workers) at the point of that name, wherever it is reached, so run a
job under test in a session of its own; ``MDM_KILL_AFTER=N`` lets the point
pass N times first. Unset, a kill point costs one dictionary lookup.

PySpark's Python workers run in a process group of their own, inside the
driver's session: a point reached in a worker (the commit of an append)
kills the session leader's group first, then its own, so neither the driver
nor the worker that was about to commit lives on.
"""
from __future__ import annotations

import os
import signal

KILL_AT = "MDM_KILL_AT"
KILL_AFTER = "MDM_KILL_AFTER"
_COUNTER = "MDM_KILL_SEEN"


def kill_point(name: str) -> None:
    if os.environ.get(KILL_AT) != name:
        return
    seen = int(os.environ.get(_COUNTER, "0"))
    if seen < int(os.environ.get(KILL_AFTER, "0")):
        os.environ[_COUNTER] = str(seen + 1)
        return
    own_group, job_group = os.getpgid(0), os.getsid(0)
    if job_group != own_group:
        os.killpg(job_group, signal.SIGKILL)
    os.killpg(own_group, signal.SIGKILL)
