"""Where a cohort's runs travel: inline in the template, or in content-addressed settings files.

One value for both readers of the runs: the custom resource (part 0's batchRunSettings) and
the tracker (the later parts, and every part's original settings for resubmissions and the
retry file), so the two can never disagree on where the runs are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from omics_batch_construct_runtime import contract

from ._settings_files import dumps_runs
from .validation import ValidatedBatch, contains_token


@dataclass(frozen=True)
class BatchRuns:
    """The cohort's runs as API JSON, in parts of at most 100,000 (one batch each), and the
    settings files that hold them. Part 0, the deploy's batch, is inline when small (no file)."""

    runs: Sequence[Mapping[str, Any]]  # inline runs (none when the runs are in files)
    files: Sequence[s3_assets.Asset]  # part 0's (unless inline), then each later part's

    @classmethod
    def place(cls, scope: Construct, batch: ValidatedBatch) -> BatchRuns:
        """Inline as validation decided, or in the settings files it wrote, shipped as assets."""
        if batch.inline:
            return cls(batch.runs, ())
        return cls((), [settings_asset(scope, file, index) for index, file in enumerate(batch.files)])

    @property
    def inline(self) -> bool:
        return not self.files

    def request(self, stack: Stack) -> dict[str, Any]:
        """Part 0's batchRunSettings (the API's), as the resource property."""
        if self.inline:
            return {"inlineSettings": [encode_documents(stack, run) for run in self.runs]}
        return {"s3UriSettings": self.files[0].s3_object_url}

    @property
    def file_object_arns(self) -> list[str]:
        """The settings files' objects, the one thing of the assets bucket their readers need."""
        return [file.bucket.arn_for_objects(file.s3_object_key) for file in self.files]

    def tracker_parts(self) -> list[dict[str, Any]]:
        """Where the tracker finds each part's original settings: a settings file, or, inline,
        exact JSON text (the runs themselves when a token needs CloudFormation to resolve it)."""
        if self.inline:
            runs = list(self.runs)
            return [{"settings": runs if contains_token(runs) else dumps_runs(runs)}]
        return [{"settingsUri": file.s3_object_url} for file in self.files]


def settings_asset(scope: Construct, file: Path, part: int = 0) -> s3_assets.Asset:
    """Ship a settings file (the runs as the API's JSON array) as a content-addressed asset.

    The asset's key is the hash of its content, so the object HealthOmics reads never
    changes under it (a changed ETag fails the batch), and the same runs give the same
    object on every synth.
    """
    return s3_assets.Asset(scope, "RunSettings" if part == 0 else f"RunSettingsPart{part}", path=str(file))


@dataclass(frozen=True)
class ReportLocation:
    """Where the tracker writes: the report prefix (``<output URI>batch-reports/``), its objects'
    ARN pattern and the bucket's key, when the bucket is known at synth."""

    uri: str
    objects_arn: str | None
    key: kms.IKey | None


def json_text(stack: Stack, value: Any) -> str:
    """A value for a state machine's definition as exact JSON text (see ``_to_json``)."""
    return _to_json(stack, value)


def encode_documents(stack: Stack, setting: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation turns every scalar into a string: documents go JSON-encoded instead."""
    return {
        key: _to_json(stack, value) if key in contract.DOCUMENT_MEMBERS else value for key, value in setting.items()
    }


def _to_json(stack: Stack, value: Any) -> str:
    """JSON text of a value, exactly as the settings file would have it.

    Python's encoder keeps null members, integers beyond 2**53 and floats such as 1.0,
    which CDK's (JavaScript) encoder would drop or round; only a value holding a token
    needs CDK's, which turns it into a CloudFormation expression.
    """
    if contains_token(value):
        return stack.to_json_string(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
