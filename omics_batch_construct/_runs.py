"""Where a batch's runs travel: inline in the template, or in a content-addressed settings file.

One value for both readers of the runs: the custom resource (the API's batchRunSettings) and
the tracker (the original settings, for the retry file), so the two can never disagree on
where the runs are.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from omics_common import contract

from .validation import ValidatedBatch, contains_token, dumps_runs


@dataclass(frozen=True)
class BatchRuns:
    """The batch's runs as API JSON, and the settings file that holds them (None: inline)."""

    runs: Sequence[Mapping[str, Any]]
    file: s3_assets.Asset | None

    @classmethod
    def place(cls, scope: Construct, batch: ValidatedBatch) -> BatchRuns:
        """Inline as validation decided, or written to a settings file shipped as an asset."""
        return cls(batch.runs, None if batch.inline else settings_file(scope, batch.runs))

    def request(self, stack: Stack) -> dict[str, Any]:
        """The API's batchRunSettings, as the resource property."""
        if self.file is None:
            return {"inlineSettings": [encode_documents(stack, run) for run in self.runs]}
        return {"s3UriSettings": self.file.s3_object_url}

    @property
    def file_uri(self) -> str | None:
        return self.file.s3_object_url if self.file else None

    @property
    def file_object_arn(self) -> str | None:
        """The settings file's object, the one thing of the assets bucket its readers need."""
        return self.file.bucket.arn_for_objects(self.file.s3_object_key) if self.file else None

    def inline_settings(self) -> str | list[Any] | None:
        """Inline runs for the tracker's definition: exact JSON text, or, when a token needs
        CloudFormation to resolve it, the runs themselves. None for a settings file."""
        if self.file is not None:
            return None
        return list(self.runs) if contains_token(list(self.runs)) else dumps_runs(self.runs)


def settings_file(scope: Construct, runs: Sequence[Mapping[str, Any]]) -> s3_assets.Asset:
    """Write the runs as the API's JSON array and ship it as a content-addressed asset.

    The asset's key is the hash of its content, so the object HealthOmics reads never
    changes under it (a changed ETag fails the batch), and the same runs give the same
    object on every synth.
    """
    body = dumps_runs(runs).encode("utf-8")
    folder = Path(tempfile.mkdtemp(prefix="omics-run-settings-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / f"run-settings-{hashlib.sha256(body).hexdigest()[:16]}.json"
    path.write_bytes(body)
    return s3_assets.Asset(scope, "RunSettings", path=str(path))


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
