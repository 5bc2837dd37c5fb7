#!/usr/bin/env python3
"""report.html at scale: the accumulator fed a made-up cohort's report rows one at a time, as the
tracker's report loop feeds it (``tests/samplecohort.py``: runs over a day and a half, 1 % failed
for three reasons, a few refused submissions), then the page rendered.

Prints, for each number of runs: the CPU the accumulator takes per row and in all (the rows are
made beforehand, ``CHUNK`` at a time, and not counted), the render's, what the summary holds
once every row went by (tracemalloc, a separate pass), and the page's size, raw and gzipped.

Run: .venv/bin/python benchmarks/report_html.py [runs ...]   (about five minutes for 1,000,000)

Measured on a shared 2-core machine:

| runs | accumulator CPU (per row) | render CPU | summary's memory | report.html | gzipped |
|---|---|---|---|---|---|
| 100,000 | 0.76 s (7.6 µs) | 2 ms | 44 KiB | 25.6 KB | 5.2 KB |
| 1,000,000 | 8.39 s (8.4 µs) | 2 ms | 46 KiB | 26.8 KB | 5.4 KB |

The accumulator's CPU replaces the report's own tally and digest (about 2 µs a row of it), so
the report step takes some 0.6 s more per 100,000 runs (it took 8.4 s, benchmarks/run_insight.py).
"""

from __future__ import annotations

import gzip
import itertools
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "lambda")]

from omics_batch_construct_runtime import reportpage  # noqa: E402
from tests import samplecohort  # noqa: E402

SIZES = (100_000, 1_000_000)
CHUNK = 10_000


def chunks(runs: int) -> Iterator[list[dict[str, str]]]:
    """The rows, ``CHUNK`` at a time: made before the clock starts, never all held."""
    rows = samplecohort.rows(runs)
    while chunk := list(itertools.islice(rows, CHUNK)):
        yield chunk


def feed(runs: int) -> tuple[reportpage.Summary, float]:
    """The summary of ``runs`` rows and the CPU seconds its ``add`` took."""
    summary, spent = reportpage.Summary(), 0.0
    for chunk in chunks(runs):
        began = time.process_time()
        summary.add_all(chunk)
        spent += time.process_time() - began
    return summary, spent


def retained_kib(runs: int) -> float:
    """What the summary holds after ``runs`` rows (Python's allocations still live, the rows gone)."""
    tracemalloc.start()
    summary = reportpage.Summary()
    chunk: list[dict[str, str]] = []
    for chunk in chunks(runs):
        summary.add_all(chunk)
    chunk = []  # the last rows gone too
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return held / 1024


def main() -> None:
    sizes = tuple(int(arg) for arg in sys.argv[1:]) or SIZES
    print("| runs | accumulator CPU (per row) | render CPU | summary's memory | report.html | gzipped |")
    print("|---|---|---|---|---|---|")
    for runs in sizes:
        summary, spent = feed(runs)
        began = time.process_time()
        page = reportpage.render(summary, samplecohort.detail(runs)).encode()
        rendered = time.process_time() - began
        print(
            f"| {runs:,} | {spent:.2f} s ({spent / runs * 1e6:.1f} µs) | {rendered * 1000:.0f} ms "
            f"| {retained_kib(runs):.0f} KiB | {len(page) / 1024:.1f} KB "
            f"| {len(gzip.compress(page)) / 1024:.1f} KB |"
        )


if __name__ == "__main__":
    main()
