"""A HealthOmics client that has the run batch operations on any Lambda runtime.

Lambda's Python runtimes bundle a boto3 that may predate run batches (botocore 1.42.74).
Rather than bundling boto3 (about 30 MB), the handlers ship botocore's omics model beside
them and put it first on botocore's data path, so an older botocore learns the new
operations. ``tests/handlers/test_old_botocore.py`` proves it under botocore 1.42.70.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.model import ServiceModel

MODEL_DIR = Path(__file__).resolve().parent / "botocore_data"
MODEL_FILE = MODEL_DIR / "omics" / "2022-11-28" / "service-2.json.gz"

# Throttling and transient 5xx are retried by botocore's standard mode with backoff.
# Bounded so that a call's worst case (5 attempts of at most 10 + 20 s, plus backoff of
# at most 20 s each) stays inside the handlers' 3-minute timeout: a poll that runs out of
# retries returns "not yet" rather than being killed mid-call.
MAX_ATTEMPTS = 5  # the first attempt included (botocore's ``max_attempts`` would count retries only)
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 20
MAX_BACKOFF_SECONDS = 20  # botocore's standard mode waits at most this long between attempts
RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    user_agent_extra="omics-batch-construct",
)
# The longest one call can take, retries and backoff included: after this, no attempt of it is
# still to be sent (a destroy relies on it to know when a recorded start can no longer happen).
MAX_CALL_SECONDS = (
    MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + (MAX_ATTEMPTS - 1) * MAX_BACKOFF_SECONDS
)


@cache
def service_model() -> ServiceModel:
    """The shipped omics model, read without a client: the library validates against it at synth."""
    with gzip.open(MODEL_FILE, "rt", encoding="utf-8") as f:
        return ServiceModel(json.load(f), service_name="omics")


def omics_client(**kwargs: Any) -> Any:
    """A new omics client that reads the model shipped beside this module first."""
    session = botocore.session.get_session()
    existing = session.get_config_variable("data_path") or os.environ.get("AWS_DATA_PATH", "")
    search = os.pathsep.join(p for p in (str(MODEL_DIR), existing) if p)
    session.set_config_variable("data_path", search)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    kwargs.setdefault("config", RETRY_CONFIG)
    return boto3.session.Session(botocore_session=session).client("omics", **kwargs)


def parse_timestamp(value: Any) -> datetime.datetime:
    """botocore's timestamp parser, reading the service's ISO 8601 text with the standard library
    first: botocore's general parser costs about 0.1 ms a value, seconds over the two timestamps
    of each of 100,000 runs. Anything else (epoch seconds, other spellings) goes to botocore's."""
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    parsed_by_botocore: datetime.datetime = botocore.utils.parse_timestamp(value)
    return parsed_by_botocore
