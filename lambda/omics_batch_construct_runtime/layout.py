"""Where a cohort's files live in S3: every key the tracker, the deploy and the command use, and
the IAM key patterns the construct grants, made by the same functions.

    <outputUri>/batch-reports/                      the report prefix (``report_uri``)
      batch-<first batch id>/                       one folder a cohort (``CohortLayout.prefix``)
        cohort.json                                 the manifest (``omics_batch_construct_runtime.manifest``)
        batches/<batch id>.jsonl                    each settled batch's runs
        settling/<batch id>/                        a settle under way: its checkpoint and its pages
        resubmit/run-settings-<content hash>.json   each resubmission's settings file
        parts/run-settings-<content hash>.json      each part's settings, as its first batch was given them
                                                    (the deploy's parts copied here; each revision's increment)
        runs/<batch id>/<content hash>.jsonl        what each run cost and why it failed, written as runs end
        prices.json                                 the list prices the cohort's costs use, read once
        report.json, report.csv, retry-settings.json
        report.html                                 the cohort at a glance (``reportpage``)

A grant names the same keys with ``ANY`` for the ids, so a renamed file cannot leave its grant
behind (``MANIFEST_KEYS``, ``RESUBMIT_KEYS``).
"""

from __future__ import annotations

from dataclasses import dataclass

REPORT_FOLDER = "batch-reports/"
ANY = "*"  # an id in an IAM key pattern

MANIFEST = "cohort.json"
REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
REPORT_HTML = "report.html"
RETRY_SETTINGS = "retry-settings.json"
PRICES = "prices.json"


def join(prefix: str, name: str) -> str:
    """``prefix`` and ``name`` with exactly one slash between them (none when the prefix is empty)."""
    if not prefix:
        return name
    return f"{prefix.rstrip('/')}/{name.lstrip('/')}"


def report_uri(output_uri: str) -> str:
    """The tracker's prefix for a batch whose default run setting writes to ``output_uri``."""
    return join(output_uri, REPORT_FOLDER)


def report_key(output_key: str) -> str:
    """The report prefix's key in the output bucket, for an output under ``output_key`` ("" at the root)."""
    return join(output_key, REPORT_FOLDER)


def cohort_folder(first_batch_id: str) -> str:
    return f"batch-{first_batch_id}/"


def rows_name(batch_id: str) -> str:
    return f"batches/{batch_id}.jsonl"


def settling_name(batch_id: str, name: str) -> str:
    return f"settling/{batch_id}/{name}"


def resubmit_name(digest: str) -> str:
    return f"resubmit/run-settings-{digest}.json"


def part_name(digest: str) -> str:
    return f"parts/run-settings-{digest}.json"


def withdrawn_name(digest: str) -> str:
    return f"withdrawn/samples-{digest}.json"


def insight_folder(batch_id: str) -> str:
    return f"runs/{batch_id}/"


# Keys under the report prefix, of every cohort: what the construct's grants name.
MANIFEST_KEYS = cohort_folder(ANY) + MANIFEST
RESUBMIT_KEYS = cohort_folder(ANY) + resubmit_name(ANY)
PART_KEYS = cohort_folder(ANY) + part_name(ANY)
WITHDRAWN_KEYS = cohort_folder(ANY) + withdrawn_name(ANY)
INSIGHT_KEYS = cohort_folder(ANY) + insight_folder(ANY) + ANY
PRICES_KEYS = cohort_folder(ANY) + PRICES


@dataclass(frozen=True)
class CohortLayout:
    """The files of the cohort whose first batch is ``first_batch_id``, under ``report_uri``."""

    report_uri: str
    first_batch_id: str

    @property
    def prefix(self) -> str:
        return join(self.report_uri, cohort_folder(self.first_batch_id))

    @property
    def manifest(self) -> str:
        return self.prefix + MANIFEST

    def rows(self, batch_id: str) -> str:
        return self.prefix + rows_name(batch_id)

    def settling(self, batch_id: str, name: str) -> str:
        return self.prefix + settling_name(batch_id, name)

    def resubmit(self, digest: str) -> str:
        return self.prefix + resubmit_name(digest)

    def part(self, digest: str) -> str:
        return self.prefix + part_name(digest)

    def withdrawn(self, digest: str) -> str:
        return self.prefix + withdrawn_name(digest)

    def insight(self, batch_id: str) -> str:
        """The folder of a batch's run records (``omics_batch_construct_runtime.runrecords``)."""
        return self.prefix + insight_folder(batch_id)

    @property
    def prices(self) -> str:
        return self.prefix + PRICES

    @property
    def report_json(self) -> str:
        return self.prefix + REPORT_JSON

    @property
    def report_csv(self) -> str:
        return self.prefix + REPORT_CSV

    @property
    def report_html(self) -> str:
        return self.prefix + REPORT_HTML

    @property
    def retry_settings(self) -> str:
        return self.prefix + RETRY_SETTINGS
