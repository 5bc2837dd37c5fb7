"""What a batch of N runs costs at synth, next to the floor of just writing the runs down.

For each size it loads the runs from an nf-core-style samplesheet (``RunSetting.from_csv``,
which checks the file and counts its runs), then times ``OmicsRunBatch`` +
``Template.from_stack`` (which reads the samplesheet again, run by run, validates every run and
writes it to its settings file, and synthesizes the assembly: the files are staged), and
compares the time over a 1-run batch ("extra") with the floor, measured in the same process:
building the same runs as plain dicts equal to their API JSON and ``json.dumps``-ing them.
"load+extra" counts the loading too: everything between the file and the assembly.

Timings are the best of ``--repeat`` tries (after a full garbage collection each), as
``timeit`` does: the least disturbed by other work on the machine. For each size the load,
the synth, the 1-run synth and the floor take turns in each try, so that a spell of other work
weighs on the figures compared alike. Memory is a separate, untimed pass under
``tracemalloc`` (Python's allocations), and, for each size, a fresh process that loads and
synthesizes once: its peak resident memory (VmHWM: see ``own_peak_mib``), that of its jsii
Node process, and its time.

Run: ``JSII_NODE=.venv/nodejs/bin/node .venv/bin/python benchmarks/synth_scale.py`` (the venv's Node.js,
as ``make bench`` sets it; jsii takes the PATH's otherwise; about 15 minutes, most of it 500,000 and
1,000,000 runs; ``--sizes`` picks fewer).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import resource
import subprocess  # nosec B404
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from omics_batch_construct import DefaultRunSetting, OmicsRunBatch, RunSetting

SIZES = (1, 100, 101, 10_000, 100_000, 150_000, 500_000, 1_000_000)
ENV = cdk.Environment(account="111122223333", region="us-east-1")
HEADER = ("sample", "fastq_1", "fastq_2", "strandedness", "priority", "tag:cohort")
# Below this the floor is a fraction of a millisecond and the ratio says nothing.
RATIO_FROM = 100_000

Row = tuple[str, str, str, str, int, str]


def sample_rows(count: int) -> list[Row]:
    """A cohort as it comes from a sequencing run: paired FASTQs per sample."""
    return [
        (
            f"NA{i:06d}",
            f"s3://cohort-7-inputs/fastq/NA{i:06d}_S{i % 96 + 1}_L001_R1_001.fastq.gz",
            f"s3://cohort-7-inputs/fastq/NA{i:06d}_S{i % 96 + 1}_L001_R2_001.fastq.gz",
            ("auto", "forward", "reverse")[i % 3],
            i % 100,
            "cohort-7",
        )
        for i in range(count)
    ]


def write_samplesheet(rows: list[Row], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)


def floor(rows: list[Row]) -> str:
    """The same runs as plain dicts equal to their API JSON, dumped as the settings file is."""
    runs = [
        {
            "runSettingId": sample,
            "priority": priority,
            "parameters": {"fastq_1": r1, "fastq_2": r2, "strandedness": strandedness},
            "runTags": {"cohort": cohort},
        }
        for sample, r1, r2, strandedness, priority, cohort in rows
    ]
    return json.dumps(runs, separators=(",", ":"), ensure_ascii=False)


class Synth:
    """One stack with one batch, synthesized; what it produced."""

    def __init__(self, runs: list[RunSetting]) -> None:
        app = cdk.App()
        stack = cdk.Stack(app, "Cohort", env=ENV)
        self.batch = OmicsRunBatch(
            stack, "Batch", default_run_setting=DefaultRunSetting(workflow_id="1234567"), runs=runs
        )
        Template.from_stack(stack)
        self.app, self.stack = app, stack

    def sizes(self) -> tuple[int, int | None, int]:
        """(template bytes, the settings files' bytes or None when the runs are inline, how many
        files), as in cdk.out."""
        assembly = self.app.synth()
        template = Path(assembly.get_stack_artifact(self.stack.artifact_id).template_full_path)
        files = [Path(assembly.directory) / f"asset.{a.asset_hash}.json" for a in self.batch.settings_assets]
        settings = sum(f.stat().st_size for f in files) if files else None
        return template.stat().st_size, settings, len(files)


def best_times(actions: Sequence[Callable[[], Any]], repeat: int) -> list[float]:
    """Each action's best time over ``repeat`` rounds, the actions taking turns in each round, so
    that other work on the machine weighs on the figures compared with each other alike."""
    best = [float("inf")] * len(actions)
    for _ in range(repeat):
        for index, action in enumerate(actions):
            gc.collect()
            start = time.perf_counter()
            action()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def peak_mib(action: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def own_peak_mib() -> float:
    """Peak resident memory of this process (VmHWM), where Linux tells it.

    Not ``ru_maxrss`` alone: it is kept across execve (getrusage(2)), so a process started by a
    large one reports at least the size of its starter (this benchmark's own process, which
    holds every size's rows, would show in each fresh process's figure).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def node_peak_mib() -> float | None:
    """Peak resident memory of this process's children (the jsii Node kernel), Linux only."""
    try:
        children = " ".join(p.read_text() for p in Path(f"/proc/{os.getpid()}/task").glob("*/children")).split()
        peaks = []
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks) if peaks else None
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated run counts")
    parser.add_argument("--repeat", type=int, default=3, help="timed tries per figure (best is kept)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for needed in (101, 1):  # the baselines
        if needed not in sizes:
            sizes.insert(0, needed)
    sizes.sort()

    columns = (
        ("runs", 8),
        ("load s", 7),
        ("synth s", 8),
        ("extra s", 8),
        ("floor s", 8),
        ("extra/floor", 11),
        ("load+extra/floor", 16),
        ("vs 101/floor", 12),
        ("template B", 11),
        ("vs 1 run B", 10),
        ("settings files B", 19),
        ("load MiB", 8),
        ("synth MiB", 9),
        ("floor MiB", 9),
        ("RSS MiB", 8),
        ("Node MiB", 8),
        ("fresh s", 8),
    )
    print(" ".join(name.rjust(width) for name, width in columns))
    print(" ".join("-" * width for _, width in columns))

    with tempfile.TemporaryDirectory(prefix="synth-scale-") as folder:
        baseline = Path(folder) / "baseline"  # apart: the 1-run size writes its own samplesheet
        baseline.mkdir()
        one = RunSetting.from_csv(_samplesheet(sample_rows(1), baseline))
        Synth(one)  # warm up jsii
        synth_times: dict[int, float] = {}
        base_template = 0
        for count in sizes:
            rows = sample_rows(count)
            sheet = _samplesheet(rows, Path(folder))
            runs = RunSetting.from_csv(sheet)
            load, synth, base, floor_time = best_times(
                [partial(RunSetting.from_csv, sheet), partial(Synth, runs), partial(Synth, one), partial(floor, rows)],
                args.repeat,
            )
            synth_times[count] = synth
            template_bytes, settings_bytes, parts = Synth(runs).sizes()
            fresh = fresh_synth(sheet)
            load_peak = peak_mib(partial(RunSetting.from_csv, sheet))
            synth_peak = peak_mib(partial(Synth, runs))
            floor_peak = peak_mib(partial(floor, rows))
            if count == 1:
                base_template = template_bytes
            extra = synth - base
            ratio = f"{extra / floor_time:.2f}" if count >= RATIO_FROM else "-"
            whole = f"{(load + extra) / floor_time:.2f}" if count >= RATIO_FROM else "-"
            file_ratio = (
                f"{(synth - synth_times[101]) / floor_time:.2f}" if count >= RATIO_FROM and 101 in synth_times else "-"
            )
            values = (
                f"{count:,}",
                f"{load:.3f}",
                f"{synth:.3f}",
                f"{extra:.3f}",
                f"{floor_time:.3f}",
                ratio,
                whole,
                file_ratio,
                f"{template_bytes:,}",
                f"{template_bytes - base_template:+,}",
                f"{settings_bytes:,} ({parts})" if settings_bytes is not None else "inline",
                f"{load_peak:.1f}",
                f"{synth_peak:.1f}",
                f"{floor_peak:.1f}",
                f"{fresh.python_mib:.0f}",
                f"{fresh.node_mib:.0f}" if fresh.node_mib is not None else "-",
                f"{fresh.seconds:.1f}",
            )
            print(" ".join(value.rjust(width) for value, (_, width) in zip(values, columns, strict=True)), flush=True)

    node = node_peak_mib()
    own = own_peak_mib()
    print()
    print(
        f"Peak resident memory of this process over every size: {own:.0f} MiB"
        + (f", jsii Node process {node:.0f} MiB" if node else "")
        + ".\nRSS MiB, Node MiB, fresh s: a fresh process that loads and synthesizes that size once: its peak "
        "resident memory and its jsii Node process's (VmHWM), and the time it took."
    )
    print(
        "load: RunSetting.from_csv of the samplesheet (checked and counted). synth: OmicsRunBatch + "
        "Template.from_stack (the runs read again,\nvalidated and written; assembly written). extra: synth - synth "
        "of 1 run, timed in turn with it. floor: the same runs built as API-JSON dicts + json.dumps. "
        "vs 101: (synth - synth of 101 runs) / floor,\nthe settings-file path only (a 1-run batch is inline, and "
        f"inline runs also ride in the tracker's definition). Ratios from {RATIO_FROM:,} runs; best of "
        f"{args.repeat}.\nMiB: peak of Python allocations (tracemalloc), in a separate untimed pass."
    )


@dataclass(frozen=True)
class Fresh:
    """A fresh process's one load and synth of a samplesheet."""

    python_mib: float  # the Python process's peak resident memory
    node_mib: float | None  # its jsii Node process's (None where /proc does not tell)
    seconds: float  # the load and synth, the jsii kernel's start included (about 4 s)


def fresh_synth(sheet: Path) -> Fresh:
    """Peak resident memory of a fresh Python process that loads the samplesheet and synthesizes
    the batch once, of the jsii Node process beside it, and the time it took."""
    code = (
        "import json, sys, time; sys.path[:0] = [sys.argv[2], sys.argv[3]]; "
        "import synth_scale as s; from omics_batch_construct import RunSetting; start = time.perf_counter(); "
        "s.Synth(RunSetting.from_csv(sys.argv[1])); seconds = time.perf_counter() - start; "
        "print(json.dumps([s.own_peak_mib(), s.node_peak_mib(), seconds]))"
    )
    here = Path(__file__).resolve().parent
    command = [sys.executable, "-c", code, str(sheet), str(here), str(here.parent)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # nosec B603
    python_mib, node_mib, seconds = json.loads(out.strip().splitlines()[-1])
    return Fresh(python_mib, node_mib, seconds)


def _samplesheet(rows: list[Row], folder: Path) -> Path:
    path = folder / f"samples-{len(rows)}.csv"
    write_samplesheet(rows, path)
    return path


if __name__ == "__main__":
    main()
