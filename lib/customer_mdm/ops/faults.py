"""Named crash points for fault-injection tests.

``MDM_KILL_AT=<name>`` SIGKILLs the whole process group (driver, Spark's JVM
and its Python workers, wherever the point is reached) at the point of that
name, so run a job under test in a session of its own; ``MDM_KILL_AFTER=N`` lets the point pass N
times first. Unset, a kill point costs one dictionary lookup.
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
    os.killpg(os.getpgid(0), signal.SIGKILL)
