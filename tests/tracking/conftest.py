"""The tracking tests share the tracker tests' builders (tests/lambda/tracker, not a package)."""

from __future__ import annotations

import sys
from pathlib import Path

TRACKER_TESTS = Path(__file__).resolve().parents[1] / "lambda" / "tracker"
if str(TRACKER_TESTS) not in sys.path:
    sys.path.insert(0, str(TRACKER_TESTS))
