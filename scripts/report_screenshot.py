#!/usr/bin/env python3
"""The README's picture of report.html: a made-up cohort of 10,000 runs (1 % failed for three
reasons, a few submissions refused; ``tests/samplecohort.py``) rendered by the tracker's own
``omics_batch_construct_runtime.reportpage`` and photographed by headless Chromium (``tests/browser.py``).

Run from the checkout: .venv/bin/python scripts/report_screenshot.py [runs]
Writes docs/images/report-html.png (and prints its size); needs Chromium (``make install``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "lambda")]

from omics_batch_construct_runtime import reportpage  # noqa: E402
from tests import browser, samplecohort  # noqa: E402

OUT = REPO / "docs" / "images" / "report-html.png"
WIDTH = 1100  # CSS pixels: the page's column and its margins


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    chromium = browser.find()
    if chromium is None:
        sys.exit("no Chromium on the PATH: make install puts Debian's there (or set CHROMIUM)")
    page = reportpage.render(reportpage.Summary().add_all(samplecohort.rows(runs)), samplecohort.detail(runs))
    with tempfile.TemporaryDirectory() as folder, browser.Browser(chromium) as chrome:
        path = Path(folder) / "report.html"
        path.write_text(page, encoding="utf-8")
        chrome.load(path, width=WIDTH, height=900)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_bytes(chrome.screenshot())
    size = OUT.stat().st_size / 1024
    print(f"{OUT.relative_to(REPO)}: {size:.0f} KB, from {runs:,} runs ({len(page) / 1024:.1f} KB of HTML)")


if __name__ == "__main__":
    main()
