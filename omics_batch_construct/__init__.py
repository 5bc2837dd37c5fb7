"""A CDK construct that runs an AWS HealthOmics run batch as part of ``cdk deploy``."""

from .run_batch import OmicsRunBatch, OnDelete
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
    "ScratchStorageMode",
    "StorageType",
    "WorkflowType",
]
