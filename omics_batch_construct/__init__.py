"""A CDK construct that runs an AWS HealthOmics run batch as part of ``cdk deploy``.

The operator command ``omics-batch`` is a package of its own (``omics_batch_cli``): importing
it does not load aws_cdk.
"""

from ._errors import ProblemsError
from .monitoring import BatchAlarms, Monitoring
from .retry import RetryPolicy
from .run_batch import OmicsRunBatch, OnDelete
from .run_settings import (
    CacheBehavior,
    DefaultRunSetting,
    NetworkingMode,
    RunLogLevel,
    RunRetentionMode,
    RunSetting,
    Samplesheet,
    ScratchStorageMode,
    StorageType,
    WorkflowType,
)
from .samplesheet import SamplesheetError
from .validation import BatchValidationError

__all__ = [
    "BatchAlarms",
    "BatchValidationError",
    "CacheBehavior",
    "DefaultRunSetting",
    "Monitoring",
    "NetworkingMode",
    "OmicsRunBatch",
    "OnDelete",
    "ProblemsError",
    "RetryPolicy",
    "RunLogLevel",
    "RunRetentionMode",
    "RunSetting",
    "Samplesheet",
    "SamplesheetError",
    "ScratchStorageMode",
    "StorageType",
    "WorkflowType",
]
