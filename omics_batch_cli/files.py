"""The settings files the ``omics-batch`` command reads and writes (the s3UriSettings format).

A settings file is a JSON array of the API's inline settings. It is read with the tracker's
own reader (``omics_batch_construct_runtime.outcome``), so both accept and refuse the same files; the retry
file is written back with each entry unchanged, in the original order, so a retry batch runs
exactly what the first one was asked to run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import IO, Any

from omics_batch_construct_runtime import outcome
from omics_batch_construct_runtime.outcome import SettingsError

__all__ = ["SettingsError", "latest_settings", "load_settings", "select_settings", "write_settings"]

SettingsEntry = dict[str, Any]  # one inline setting of the API, as the file holds it
S3ClientFactory = Callable[[], Any]


def load_settings(source: str, s3_client: S3ClientFactory) -> list[SettingsEntry]:
    """The checked entries of a local file or of an ``s3://bucket/key`` object.

    The S3 client is asked for only when the source is an S3 URI, so a local file needs no
    AWS configuration for S3.
    """
    if source.startswith("s3://"):
        bucket, key = outcome.split_s3_uri(source)  # before any call
        return list(outcome.s3_settings(s3_client(), f"s3://{bucket}/{key}", None))
    with Path(source).open("rb") as f:
        return list(outcome.read_settings(f.read, source))


def latest_settings(settings: list[SettingsEntry]) -> list[SettingsEntry]:
    """One entry per runSettingId: the last one given, in the place of the first.

    Several files may hold a run setting: the parts of a growing cohort do when a revision changed
    a sample, and the later part holds its settings now, whose run is its last attempt (the
    tracker's rule too). A retry file with a runSettingId twice would fail its batch.
    """
    latest: dict[str, SettingsEntry] = {}
    for entry in settings:
        latest[entry["runSettingId"]] = entry
    return list(latest.values())


def select_settings(settings: list[SettingsEntry], run_setting_ids: Collection[str]) -> list[SettingsEntry]:
    """The settings of the given runs, in file order; every id must be in the file.

    An id missing from the file means the file is not the one the batch ran: writing the
    others would silently drop a run, so the command refuses (the tracker, which has no one
    to ask, writes what it has and says what is missing).
    """
    found = outcome.select(settings, run_setting_ids)
    if found.missing:
        shown = ", ".join(found.missing[:5]) + (", ..." if len(found.missing) > 5 else "")
        raise SettingsError(
            f"{len(found.missing)} failed run(s) are not in the settings file (is it the batch's file?): {shown}"
        )
    return found.entries


def write_settings(settings: list[SettingsEntry], destination: str, stdout: IO[str]) -> None:
    """Write the array to a file, or to stdout for ``-`` (to pipe it on)."""
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    if destination == "-":
        stdout.write(text)
    else:
        Path(destination).write_text(text, encoding="utf-8")
