"""A cohort as the ``omics-batch`` command sees it: the batches its tracker started, from its manifest.

A construct's batch is the first of a cohort: the tracker may start later parts (above
100,000 runs) and resubmissions, and keeps the cohort's manifest in the tracker's folder
beside the outputs (``<outputUri>batch-reports/batch-<first id>/cohort.json``, see
``omics_batch_construct_runtime.layout``). Given the GetBatch answer of the first batch, or of a
later one (whose cohort tag names the first), the command finds the manifest there (through
``omics_batch_construct_runtime.manifest``, its one reader); a batch with no manifest is a cohort
of one. Once the tracker has reported,
the manifest also holds the cohort's result (status, whether it succeeded, counts), and from
the tracker's first check on, the settings file of each part (``settings_files``), which
``retry`` reads when it is given no ``--settings``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from omics_batch_construct_runtime import contract, layout, outcome
from omics_batch_construct_runtime.errors import ApiError
from omics_batch_construct_runtime.manifest import Manifest, ManifestStore, Member

from .batches import get_batch


@dataclass(frozen=True)
class Cohort:
    """What the manifest says: the batches in start order, whether the tracker is done, its result,
    and each part's settings file (copies in the cohort's folder; empty if not recorded yet, or by
    an earlier release)."""

    first_batch_id: str
    members: tuple[Member, ...]
    done: bool
    result: Mapping[str, Any] | None
    settings_files: tuple[str, ...] = ()

    @classmethod
    def of(cls, manifest: Manifest) -> Cohort:
        return cls(manifest.first_batch_id, manifest.members, manifest.done, manifest.result, manifest.part_files)

    @property
    def succeeded(self) -> bool:
        return bool(self.result and self.result.get("succeeded"))

    def in_attempt_order(self) -> list[Member]:
        return sorted(self.members, key=lambda m: (m.part, m.attempt))


def find(first: Mapping[str, Any], s3: Callable[[], Any], warn: Callable[[str], None]) -> Cohort | None:
    """The cohort of the batch GetBatch answered with ``first`` (see ``layout_of``: its first
    batch or a later one); None without a manifest.

    A manifest that cannot be read (no permission on the output bucket, say) is a warning,
    and the batch is shown on its own.
    """
    batch_id = str(first.get("id", ""))
    files = layout_of(first)
    if files is None:
        return None
    try:
        found = ManifestStore(s3(), files).read()
    except ApiError as err:
        warn(f"warning: cannot read the cohort's manifest ({err.code}): showing batch {batch_id} only")
        return None
    return Cohort.of(found) if found is not None else None


def layout_of(batch: Mapping[str, Any]) -> layout.CohortLayout | None:
    """Where the tracker keeps the files of the cohort of the batch GetBatch answered with
    ``batch`` (its first batch, or a later one, which names the first in its cohort tag): under
    its default outputUri; None without one (no tracker can have written there)."""
    output = (batch.get("defaultRunSetting") or {}).get("outputUri")
    if not output:
        return None
    first = (batch.get("tags") or {}).get(contract.COHORT_TAG) or batch.get("id", "")
    return layout.CohortLayout(layout.report_uri(str(output)), str(first))


def statuses(omics: Any, cohort: Cohort) -> Iterator[tuple[Member, Mapping[str, Any]]]:
    """Each batch of the cohort with its GetBatch answer, in start order."""
    for member in cohort.members:
        yield member, get_batch(omics, member.batch_id)


def rows(omics: Any, cohort: Cohort, max_get_run: int) -> list[tuple[outcome.RunRow, Member]]:
    """Each run setting of the cohort with its last attempt (the tracker's rule, on live listings)."""
    return outcome.last_attempts(
        (member, outcome.batch_rows(omics, member.batch_id, max_get_run=max_get_run))
        for member in cohort.in_attempt_order()
    )
