"""The run settings file (s3UriSettings format): read it, pick runs from it, write it.

The file is a JSON array of the API's InlineSetting objects (runSettingId, name,
outputUri, priority, parameters, outputBucketOwnerId, runTags, engineSettings). Picked
entries are written back unchanged, in their original order, so a retry batch runs
exactly what the first one was asked to run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

RunSetting = dict[str, Any]
S3ClientFactory = Callable[[], Any]


class SettingsError(Exception):
    """The settings file cannot be used; the message says which file and why."""


def read_settings_text(source: str, s3_client: S3ClientFactory) -> str:
    """The text of a local file or of an ``s3://bucket/key`` object.

    The S3 client is asked for only when the source is an S3 URI, so a local file needs
    no AWS configuration for S3.
    """
    if not source.startswith("s3://"):
        return Path(source).read_text(encoding="utf-8")
    uri = urlparse(source)
    key = uri.path.lstrip("/")
    if not uri.netloc or not key:
        raise SettingsError(f"{source}: not an s3://bucket/key URI")
    body = s3_client().get_object(Bucket=uri.netloc, Key=key)["Body"]
    return str(body.read().decode("utf-8"))


def parse_settings(text: str, source: str) -> list[RunSetting]:
    """The run settings, checked for what the retry relies on: unique runSettingIds."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(settings, list):
        raise SettingsError(f"{source}: expected a JSON array of run settings")
    seen: set[str] = set()
    for index, setting in enumerate(settings):
        run_setting_id = setting.get("runSettingId") if isinstance(setting, dict) else None
        if not isinstance(run_setting_id, str):
            raise SettingsError(f"{source}: entry {index} has no runSettingId")
        if run_setting_id in seen:
            raise SettingsError(f"{source}: runSettingId {run_setting_id!r} appears more than once")
        seen.add(run_setting_id)
    return settings


def load_settings(source: str, s3_client: S3ClientFactory) -> list[RunSetting]:
    """The settings array from a local path or an S3 URI."""
    return parse_settings(read_settings_text(source, s3_client), source)


def select_settings(settings: list[RunSetting], run_setting_ids: Collection[str]) -> list[RunSetting]:
    """The settings of the given runs, in file order; every id must be in the file.

    An id missing from the file means the file is not the one the batch ran: writing
    the others would silently drop a run, so this refuses instead.
    """
    known = {setting["runSettingId"] for setting in settings}
    missing = sorted(set(run_setting_ids) - known)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SettingsError(
            f"{len(missing)} failed run(s) are not in the settings file (is it the batch's file?): {shown}"
        )
    wanted = set(run_setting_ids)
    return [setting for setting in settings if setting["runSettingId"] in wanted]


def write_settings(settings: list[RunSetting], destination: str, stdout: IO[str]) -> None:
    """Write the array to a file, or to stdout for ``-`` (to pipe it on)."""
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    if destination == "-":
        stdout.write(text)
    else:
        Path(destination).write_text(text, encoding="utf-8")
