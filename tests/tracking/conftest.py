"""The tracking tests run the tracker function's own code: put it on the path as its asset has it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "lambda", ROOT / "tests" / "tracker"):  # the function; tracker_testkit
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
