"""The settings files' content: the runs as the API's JSON array, written as the runs stream in.

One function says what a file holds (``dumps_runs``); the writer produces exactly those bytes
for each part without holding a part's runs, so a cohort read from a samplesheet reaches its
files one run at a time. The bytes matter: the files are content-addressed assets, and a byte
changed for the same runs would be a new object, and a new batch, for every deployed cohort.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

# Runs encoded in one call, so the JSON encoder's cost per call is spread over many runs (more
# at once holds them longer, and Python's garbage collector then visits them more often).
CHUNK = 256
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps_runs(runs: Sequence[Mapping[str, Any]]) -> str:
    """The settings file's content: a compact JSON array, byte-stable for the same runs."""
    return json.dumps(runs, separators=(",", ":"), ensure_ascii=False)


def write_settings_files(runs: Iterable[Mapping[str, Any]], part_size: int) -> list[Path]:
    """Write the runs, in order, to files of ``part_size`` runs (the last one fewer), as they come.

    Each file holds ``dumps_runs`` of its runs, byte for byte (a JSON array is its elements,
    each encoded alone, between brackets and commas), and is named after the start of its
    SHA-256, so the same runs give the same file on every synth. The files live in a
    temporary folder removed when the program ends (CDK copies them into the assembly).
    """
    folder = Path(tempfile.mkdtemp(prefix="omics-run-settings-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    stream = iter(runs)
    files = []
    while chunk := list(islice(stream, min(CHUNK, part_size))):
        digest = hashlib.sha256()
        partial = folder / "run-settings.partial"
        with partial.open("wb") as out:
            written, opening = 0, b"["
            while chunk:
                data = opening + _ENCODER.encode(chunk)[1:-1].encode("utf-8")
                out.write(data)
                digest.update(data)
                written, opening = written + len(chunk), b","
                chunk = list(islice(stream, min(CHUNK, part_size - written)))
            out.write(b"]")
            digest.update(b"]")
        path = folder / f"run-settings-{digest.hexdigest()[:16]}.json"
        partial.replace(path)
        files.append(path)
    return files


def remove_settings_files(files: Iterable[Path]) -> None:
    """Remove files written for a batch that failed validation after all."""
    for file in files:
        file.unlink(missing_ok=True)
