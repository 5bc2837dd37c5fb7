"""Run settings: the API's defaultRunSetting and inline settings, in snake_case.

Each field maps to the member of the same name in camelCase in the HealthOmics API
(``DefaultRunSetting`` and ``InlineSetting`` in botocore's ``omics`` model); a test keeps
the two in step. ``None`` means "not set": the field is left out of the request and the
service's default applies.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from functools import cache
from itertools import islice
from typing import Any, overload

from .samplesheet import CsvSource, JsonSource, Source, arguments


class WorkflowType(StrEnum):
    """Where the workflow comes from. Batches run private workflows only: READY2RUN is refused."""

    PRIVATE = "PRIVATE"
    READY2RUN = "READY2RUN"


class CacheBehavior(StrEnum):
    """When the run cache stores task outputs."""

    CACHE_ON_FAILURE = "CACHE_ON_FAILURE"
    CACHE_ALWAYS = "CACHE_ALWAYS"


class RunLogLevel(StrEnum):
    """How much the workflow engine logs."""

    OFF = "OFF"
    FATAL = "FATAL"
    ERROR = "ERROR"
    ALL = "ALL"


class RunRetentionMode(StrEnum):
    """Whether a run's metadata is kept or removed when the run quota is reached."""

    RETAIN = "RETAIN"
    REMOVE = "REMOVE"


class StorageType(StrEnum):
    """Static (fixed capacity) or dynamic run storage."""

    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


class NetworkingMode(StrEnum):
    """Whether runs reach the internet only through a VPC configuration."""

    RESTRICTED = "RESTRICTED"
    VPC = "VPC"


class ScratchStorageMode(StrEnum):
    """Where tasks keep scratch data."""

    LOCAL = "LOCAL"
    SHARED = "SHARED"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _ApiSetting:
    """Shared conversion of a settings dataclass to the API's JSON."""

    @classmethod
    @cache
    def api_names(cls) -> tuple[tuple[str, str], ...]:
        """(snake_case field, camelCase API member) for every field, in declaration order."""
        return tuple((f.name, _camel(f.name)) for f in fields(cls))  # type: ignore[arg-type]

    def to_api(self) -> dict[str, Any]:
        """The API's JSON for this setting: camelCase names, enum values, unset fields omitted."""
        out: dict[str, Any] = {}
        for field, member in self.api_names():
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, Mapping):
                value = dict(value)
            out[member] = value
        return out


@dataclass(frozen=True, kw_only=True)
class DefaultRunSetting(_ApiSetting):
    """Settings shared by every run of the batch (the API's ``defaultRunSetting``).

    Per-run settings (``RunSetting``) override ``name``, ``output_uri``, ``priority``,
    ``output_bucket_owner_id`` and ``engine_settings``, and are merged over
    ``parameters`` and ``run_tags`` (the run wins).
    """

    workflow_id: str
    """The private workflow to run (batches do not run Ready2Run workflows)."""
    role_arn: str | None = None
    """The run role. Default: the construct's ``run_role``, or a role it creates."""
    workflow_type: WorkflowType | str | None = None
    """Default: the service's (PRIVATE), the one type a batch runs."""
    name: str | None = None
    """Run name. Default: none."""
    cache_id: str | None = None
    """Run cache to use. Default: no cache."""
    cache_behavior: CacheBehavior | str | None = None
    """Default: the cache's own behavior."""
    run_group_id: str | None = None
    """Run group that bounds the runs' resources. Default: none."""
    priority: int | None = None
    """0 to 100,000; higher runs first within a run group. Default: the service's."""
    parameters: Mapping[str, Any] | None = None
    """Workflow parameters for every run; a run's own parameters are merged over these."""
    storage_capacity: int | None = None
    """Static run storage in GiB. Default: the service's."""
    output_uri: str | None = None
    """Where runs write their outputs. Default: a prefix in the construct's ``output_bucket``."""
    log_level: RunLogLevel | str | None = None
    """Default: the service's."""
    run_tags: Mapping[str, str] | None = None
    """Tags for every run (not the batch); a run's own run_tags are merged over these."""
    retention_mode: RunRetentionMode | str | None = None
    """Default: the service's (RETAIN)."""
    storage_type: StorageType | str | None = None
    """Default: the service's."""
    workflow_owner_id: str | None = None
    """Account that owns a shared workflow. Default: none."""
    output_bucket_owner_id: str | None = None
    """Expected owner of the output bucket. Default: not checked."""
    workflow_version_name: str | None = None
    """Default: the workflow's default version."""
    networking_mode: NetworkingMode | str | None = None
    """Default: the service's."""
    configuration_name: str | None = None
    """HealthOmics configuration (e.g. VPC settings). Default: none."""
    session_policy: str | None = None
    """An IAM policy JSON that further restricts the run role. Default: none."""
    engine_settings: Mapping[str, Any] | None = None
    """Workflow engine settings. Default: none."""
    scratch_storage_mode: ScratchStorageMode | str | None = None
    """Default: the service's."""
    requester_pays_enabled: bool | None = None
    """Whether runs may read from requester-pays buckets. Default: the service's."""


@dataclass(frozen=True, kw_only=True)
class RunSetting(_ApiSetting):
    """One run of the batch (an entry of the API's ``inlineSettings``, or of the settings file)."""

    run_setting_id: str
    """Unique within the batch: maps this setting to the run it became (e.g. the sample id)."""
    name: str | None = None
    """Run name. Default: the default run setting's."""
    output_uri: str | None = None
    """Default: the default run setting's."""
    priority: int | None = None
    """Default: the default run setting's."""
    parameters: Mapping[str, Any] | None = None
    """Merged over the default run setting's parameters (this run wins)."""
    output_bucket_owner_id: str | None = None
    """Default: the default run setting's."""
    run_tags: Mapping[str, str] | None = None
    """Merged over the default run setting's run_tags (this run wins)."""
    engine_settings: Mapping[str, Any] | None = None
    """Default: the default run setting's."""

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        id_column: str = "sample",
        parameters: Mapping[str, str] | Sequence[str] | None = None,
        delimiter: str = ",",
    ) -> Samplesheet:
        """One run per row of an nf-core-style samplesheet (e.g. ``sample,fastq_1,fastq_2``).

        ``id_column`` gives ``run_setting_id``; the columns ``name``, ``output_uri``,
        ``priority`` and ``output_bucket_owner_id`` give those fields, ``tag:KEY`` columns give
        run tags, and every other column (or only those in ``parameters``: column -> parameter
        name, or a list of columns) a workflow parameter. Empty cells set nothing. Raises
        ``SamplesheetError`` listing every problem with its line. See ``samplesheet``.

        The file is read now, to check it and count its runs, and again whenever the runs are
        iterated: they are never all in memory (see ``Samplesheet``).
        """
        source = CsvSource(path, id_column=id_column, parameters=parameters, delimiter=delimiter)
        return Samplesheet(source, cls)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Samplesheet:
        """One run per object of a JSON array or JSON Lines file, with the API's keys (``runSettingId``)
        or the field names (``run_setting_id``). Raises ``SamplesheetError`` listing every problem
        with its line. See ``samplesheet``. Read as ``from_csv`` is: now, and when iterated.
        """
        return Samplesheet(JsonSource(path), cls)


class Samplesheet(Sequence[RunSetting]):
    """The runs of a samplesheet or JSON file, read from the file again each time they are iterated.

    What ``RunSetting.from_csv`` and ``from_json`` return. Loading reads the file once: every
    problem is raised then (``SamplesheetError``) and the runs are counted, not kept. Iterating
    reads it again, one run at a time, so that a cohort of a million runs is never in memory
    as a million RunSettings; a file changed after loading is refused then. A sequence
    like the list it stands for: ``len()``, iteration, indexing and slicing (which read up to
    the runs asked for: ``list(runs)`` for many lookups) and ``==`` with a list of the same runs.
    """

    def __init__(self, source: Source, setting: type[RunSetting] = RunSetting) -> None:
        self.source = source
        self.setting = setting
        self._count = source.check()

    @property
    def path(self) -> str:
        """The file the runs are read from."""
        return self.source.label

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[RunSetting]:
        setting = self.setting
        return (setting(**arguments(run)) for run in self.source)

    def api_runs(self) -> Iterator[dict[str, Any]]:
        """Each run's API JSON (what ``RunSetting.to_api`` gives), read again from the file."""
        return iter(self.source)

    @overload
    def __getitem__(self, index: int) -> RunSetting: ...

    @overload
    def __getitem__(self, index: slice) -> list[RunSetting]: ...

    def __getitem__(self, index: int | slice) -> RunSetting | list[RunSetting]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step < 0:
                return list(self)[index]
            return [self.setting(**arguments(run)) for run in islice(self.source, start, stop, step)]
        position = operator.index(index)
        if position < 0:
            position += self._count
        if not 0 <= position < self._count:
            raise IndexError(f"{self.path}: run {index} of {self._count:,}")
        return self.setting(**arguments(next(islice(self.source, position, None))))

    def __reversed__(self) -> Iterator[RunSetting]:
        return reversed(list(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(mine == theirs for mine, theirs in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Samplesheet({self.path!r}, {self._count:,} runs)"
