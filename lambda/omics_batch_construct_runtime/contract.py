"""The contract between the OmicsRunBatch construct and its custom resource handlers.

The construct (``omics_batch_construct``) writes these resource properties and reads
these attributes; the handlers (``provider.index``) read the properties and return the
attributes. Both import this one module, so the names cannot drift apart.

Every property value reaches the handler as CloudFormation hands it over: numbers and
booleans as strings. The handler converts them back using the service model. Members the
service model types as free-form documents (``parameters``, ``engineSettings``) are sent
JSON-encoded, so that a workflow parameter ``4`` stays a number and ``true`` a boolean.
"""

from __future__ import annotations

import hashlib

# Bumped when the meaning of a property changes. A handler reads every version it knows,
# so the properties of a stack deployed by an older release keep working after an upgrade.
SCHEMA_VERSION = "1"
SUPPORTED_SCHEMA_VERSIONS = frozenset({"1"})

# --- the functions' entry points (module.function in the handler asset) ---------------
# The construct names them in the functions it deploys; a test imports each one.
HANDLER_ON_EVENT = "provider.index.on_event"
HANDLER_IS_COMPLETE = "provider.index.is_complete"
HANDLER_TRACKER = "tracker.index.handler"
HANDLER_INSIGHT = "insight.index.handler"

# --- resource properties -----------------------------------------------------------
PROP_SCHEMA_VERSION = "SchemaVersion"
PROP_BATCH_NAME = "BatchName"
# The API's defaultRunSetting, in the API's camelCase names.
PROP_DEFAULT_RUN_SETTING = "DefaultRunSetting"
# The API's batchRunSettings: {"inlineSettings": [...]} or {"s3UriSettings": "s3://..."}.
PROP_BATCH_RUN_SETTINGS = "BatchRunSettings"
# Every settings file of the runs, one per part (absent when the runs are inline): a change in any
# part is a change of the runs (a growing cohort's next revision, see provider.increment).
PROP_SETTINGS_FILES = "SettingsFiles"
PROP_TAGS = "Tags"
PROP_ON_DELETE = "OnDelete"
# How long the deploy waits for the batch to pass validation, in seconds (absent: an hour).
PROP_TIMEOUT_SECONDS = "TimeoutSeconds"
# The tracking state machine the handler starts once the batch is started (absent: none).
PROP_TRACKER_ARN = "TrackerStateMachineArn"
# Where the tracker writes (s3://.../batch-reports/): a delete reads the cohort's manifest there.
PROP_REPORT_URI = "ReportUri"

# Where the deploy's handler finds the values CloudFormation names anew for every stack it creates
# (a run role or output bucket the construct made): {"RunRole": <role ARN>, ...}. The definition
# key reads them by these names, so a stack created again finds the batches it left.
PROP_STABLE_NAMES = "StableNames"
# How many runs the cohort has, every part (the quota pre-flight reads it).
PROP_RUN_COUNT = "RunCount"

# Members of these API shapes that are documents, JSON-encoded in the properties.
DOCUMENT_MEMBERS = frozenset({"parameters", "engineSettings"})

# Properties whose change never starts a new batch. A change of any other property
# (the batch name, the default run setting, the runs) starts a new batch.
NON_DEFINING_PROPERTIES = frozenset(
    {
        "ServiceToken",
        "ServiceTimeout",  # CloudFormation's own, which it hands over with the rest
        PROP_SCHEMA_VERSION,
        PROP_TAGS,
        PROP_ON_DELETE,
        PROP_TRACKER_ARN,
        PROP_TIMEOUT_SECONDS,
        PROP_REPORT_URI,  # follows the output URI, which the default run setting defines
        PROP_STABLE_NAMES,  # names values of the definition, which count themselves
        PROP_RUN_COUNT,  # follows the runs
    }
)

# --- what happens to the batch when its resource is deleted -------------------------
ON_DELETE_RETAIN = "RETAIN"
ON_DELETE_CANCEL_RUNS = "CANCEL_RUNS"
ON_DELETE_DELETE_RUNS_AND_BATCH = "DELETE_RUNS_AND_BATCH"
ON_DELETE_VALUES = (ON_DELETE_RETAIN, ON_DELETE_CANCEL_RUNS, ON_DELETE_DELETE_RUNS_AND_BATCH)

# --- attributes (the custom resource's Data) ----------------------------------------
ATTR_BATCH_ID = "BatchId"
ATTR_BATCH_ARN = "BatchArn"
ATTR_BATCH_UUID = "BatchUuid"
ATTR_STATUS = "Status"
# What on_event hands is_complete in its Data (the Provider framework passes it on): when it began
# (epoch seconds). A deploy's wait for validation and a delete's hour are measured from it.
DATA_STARTED_AT = "StartedAt"
# A growing cohort's revision: the batch of its new and changed runs, whose validation the update
# waits for (the resource keeps its id, the cohort's first batch).
DATA_INCREMENT = "IncrementBatchId"
# ... whose removed samples' runs are being stopped (provider/withdraw.py): since when (epoch seconds).
DATA_WITHDRAWN = "WithdrawingSince"

# --- limits the API model does not carry --------------------------------------------
MAX_INLINE_RUNS = 100  # inlineSettings; the model's own bound, repeated for the construct
MAX_RUNS = 100_000  # s3UriSettings: the most runs of one batch
MAX_COHORT_RUNS = 1_000_000  # a cohort: parts of at most MAX_RUNS, one batch each
MAX_DEPLOY_WAIT_SECONDS = 3600  # a custom resource may take at most one hour
# How long a batch StartRunBatch answered with may be unreadable or unlisted (eventual
# consistency) before it counts as gone: the deploy, the tracker and a destroy allow the same.
NOT_VISIBLE_GRACE_SECONDS = 120
# A delete finishes within the custom resource's hour: past this, it completes with the work
# requested and logs what is left (and the command that finishes it).
DELETE_BUDGET_SECONDS = 50 * 60

# --- a batch's identity --------------------------------------------------------------
# The deploy's batch carries its definition key (see provider.batch.definition_key): a deploy
# finds the batch of its definition by this tag, whatever HealthOmics remembers of requestIds.
DEFINITION_TAG = "omics-batch-construct:definition"

# --- events ----------------------------------------------------------------------------
# What the completion event says of itself.
EVENT_SOURCE = "omics-batch-construct"
EVENT_DETAIL_TYPE = "Omics Run Batch Completed"
# What the tracking state machine says when a step of it keeps failing (and goes on trying).
EVENT_TRACKING_DELAYED = "Omics Run Batch Tracking Delayed"
# HealthOmics' own event for a batch status change.
OMICS_EVENT_SOURCE = "aws.omics"
OMICS_BATCH_EVENT_DETAIL_TYPE = "RunBatch Status Change"
OMICS_RUN_EVENT_DETAIL_TYPE = "Run Status Change"

# --- the run insight function (lambda/insight): ended runs' events from a queue -----------
ENV_REPORT_URI = "REPORT_URI"  # the report prefix whose cohorts the function records
# A batch of 100 runs: GetRun and a manifest log read each, about 10 s; the rest is for retries.
INSIGHT_TIMEOUT_SECONDS = 300
# The queue gives a message back this long after a delivery that did not end (six times the
# function's timeout, as Lambda asks of an SQS event source), and moves it to its dead-letter
# queue after INSIGHT_MAX_RECEIVES deliveries.
INSIGHT_VISIBILITY_SECONDS = 6 * INSIGHT_TIMEOUT_SECONDS
INSIGHT_MAX_RECEIVES = 8


# --- cohorts: the first batch (started by the deploy) and those the tracker starts ------
# A cohort is its first batch, the later parts of a cohort of more than MAX_RUNS runs, and
# the resubmissions; the tracker starts all but the first, one submitting at a time.
COHORT_TAG = "omics-batch-construct:cohort"  # a tracker-started batch's tag: the first batch's id
# A tracker starts a batch only this soon after it recorded the start in the manifest, so that a
# destroy knows when a recorded start can no longer happen (omics_batch_construct_runtime.manifest).
START_WINDOW_SECONDS = 30


def cohort_name_prefix(first_batch_id: str) -> str:
    """The start of every tracker-started batch's name: how the event rule knows them."""
    return f"c{first_batch_id}-"


def cohort_batch_name(first_batch_id: str, part: int, attempt: int) -> str:
    """A tracker-started batch's name (at most 64 characters): its cohort, part and attempt."""
    return f"{cohort_name_prefix(first_batch_id)}p{part}a{attempt}"


def cohort_request_id(first_batch_id: str, part: int, attempt: int) -> str:
    """StartRunBatch's idempotency token for a part's attempt: a retried task cannot start two."""
    return hashlib.sha256(f"omics-batch-construct {first_batch_id} {part} {attempt}".encode()).hexdigest()


# --- the tracker function (lambda/tracker): what the state machine sends and catches ---
# The tracker function's timeout: settling or reporting a part pages through up to 100,000 runs
# (benchmarks/tracker_report.py).
TRACKER_TIMEOUT_SECONDS = 900
# The ``action`` of each task's payload. An EventBridge event (it has "detail-type") is
# a resume even without one.
TRACKER_ACTION_CHECK = "check"
TRACKER_ACTION_PARK = "park"
TRACKER_ACTION_RESUME = "resume"
TRACKER_ACTION_REPORT = "report"
TRACKER_ACTION_CONTINUE = "continue"  # a fresh execution carries the cohort on
# The monitoring's rule on the "Tracking Delayed" event: counted as a metric (omics_batch_construct_runtime.metrics).
TRACKER_ACTION_DELAYED = "delayed"
# Error names (the Lambda errorType) for the state machine's Retry and Catch.
TRACKER_ERROR_THROTTLED = "Throttled"  # throttling, 5xx or network, after botocore's retries
TRACKER_ERROR_BATCH_NOT_FOUND = "BatchNotFound"  # GetBatch said ResourceNotFoundException
