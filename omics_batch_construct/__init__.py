"""A CDK construct that runs an AWS HealthOmics run batch as part of ``cdk deploy``.

Public names load on first use (PEP 562), so that the ``omics-batch`` command, which
lives in this package too, starts without importing aws_cdk and its Node.js process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run_batch import OmicsRunBatch, OnDelete
    from .samplesheet import SamplesheetError
    from .settings import (
        CacheBehavior,
        DefaultRunSetting,
        NetworkingMode,
        RunLogLevel,
        RunRetentionMode,
        RunSetting,
        ScratchStorageMode,
        StorageType,
        WorkflowType,
    )
    from .validation import BatchValidationError

_EXPORTS = {
    "BatchValidationError": ".validation",
    "OmicsRunBatch": ".run_batch",
    "OnDelete": ".run_batch",
    "SamplesheetError": ".samplesheet",
    **{
        name: ".settings"
        for name in (
            "CacheBehavior",
            "DefaultRunSetting",
            "NetworkingMode",
            "RunLogLevel",
            "RunRetentionMode",
            "RunSetting",
            "ScratchStorageMode",
            "StorageType",
            "WorkflowType",
        )
    },
}
__all__ = [
    "BatchValidationError",
    "CacheBehavior",
    "DefaultRunSetting",
    "NetworkingMode",
    "OmicsRunBatch",
    "OnDelete",
    "RunLogLevel",
    "RunRetentionMode",
    "RunSetting",
    "SamplesheetError",
    "ScratchStorageMode",
    "StorageType",
    "WorkflowType",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
