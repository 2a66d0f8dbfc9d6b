"""Log set-up shared by every job: one line per stage, counts and seconds, no PII."""
from __future__ import annotations

import logging
import sys


def configure_logging(*, quiet: bool = False, verbose: bool = False) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("py4j", "kafka", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
