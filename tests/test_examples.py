"""The README's demo job keeps working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_engine_tour_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "engine_tour.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "carol <- next" in result.stdout
    assert "0 subscriptions left" in result.stdout
