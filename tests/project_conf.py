"""Conf files a test project copies from the repo, so a test's own conf only says what it is about."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_weighted_matching(conf: Path) -> None:
    """The repo's matching.yaml on the weighted model, which needs no trained model file next to the conf."""
    matching = (REPO / "conf" / "matching.yaml").read_text()
    (conf / "matching.yaml").write_text(matching.replace("model: fellegi_sunter", "model: weighted", 1))
