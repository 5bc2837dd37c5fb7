"""The clients the CLI makes itself: retries, endpoint and host prefix, configuration errors.

A Stubber answers in botocore's ``before-call`` step, ahead of the retry handler, so a
stubbed ThrottlingException is raised at once and can never show a retry. These tests
answer one step later, in ``before-send``, with HTTP responses: the request is still
serialized and the response parsed by the model, and botocore's own standard-mode retry
decides what happens to a 429. Its backoff sleep is replaced, so nothing waits.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from omics_batch_cli import main as cli

from .clikit import BATCH_ID, REGION, batch


class _Body:
    """The raw HTTP body botocore reads an AWSResponse from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class FakeHttp:
    """Answers each request with the next (status, error type, body) and keeps the URLs."""

    answers: list[tuple[int, str | None, dict[str, Any]]]
    urls: list[str] = field(default_factory=list)

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.urls.append(request.url)
        status, error_type, body = self.answers.pop(0)
        headers = {"content-type": "application/json"}
        if error_type:
            headers["x-amzn-errortype"] = error_type
        return AWSResponse(request.url, status, headers, _Body(json.dumps(body).encode()))


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays botocore's retry would have slept (it calls time.sleep)."""
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    return delays


def run_status(clients: cli.ClientFactory) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(["status", BATCH_ID], clients=clients, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def with_http(clients: cli.ClientFactory, http: FakeHttp) -> cli.ClientFactory:
    clients("omics").meta.events.register("before-send.omics", http)
    return clients


@pytest.mark.usefixtures("credentials")
def test_throttling_is_retried_by_the_cli_client(backoff: list[float]) -> None:
    http = FakeHttp([(429, "ThrottlingException", {"message": "Rate exceeded"}), (200, None, batch("INPROGRESS"))])
    clients = with_http(cli.session_clients(REGION, None, None), http)

    code, out, err = run_status(clients)

    assert (code, err) == (cli.EXIT_OK, "")
    assert "INPROGRESS" in out
    assert len(http.urls) == 2
    assert len(backoff) == 1 and 0 <= backoff[0] <= 1  # standard mode's first backoff


@pytest.mark.usefixtures("credentials")
def test_throttling_that_outlasts_the_retries_is_an_error_message(backoff: list[float]) -> None:
    attempts = cli.TOTAL_MAX_ATTEMPTS
    http = FakeHttp([(429, "ThrottlingException", {"message": "Rate exceeded"})] * attempts)
    clients = with_http(cli.session_clients(REGION, None, None), http)

    code, out, err = run_status(clients)

    assert (code, out) == (cli.EXIT_FAILED, "")
    assert err == "error: ThrottlingException: Rate exceeded\n"
    assert len(backoff) == attempts - 1


@pytest.mark.usefixtures("credentials")
def test_the_default_endpoint_carries_the_models_host_prefix() -> None:
    http = FakeHttp([(200, None, batch("PROCESSED"))])

    run_status(with_http(cli.session_clients(REGION, None, None), http))

    assert http.urls == [f"https://workflows-omics.{REGION}.amazonaws.com/runBatch/{BATCH_ID}"]


@pytest.mark.usefixtures("credentials")
def test_an_endpoint_url_is_called_as_given_without_host_prefix() -> None:
    http = FakeHttp([(200, None, batch("PROCESSED"))])

    run_status(with_http(cli.session_clients(REGION, None, "http://localhost:4566"), http))

    assert http.urls == [f"http://localhost:4566/runBatch/{BATCH_ID}"]


@pytest.mark.usefixtures("credentials")
def test_the_endpoint_url_is_for_omics_only() -> None:
    s3 = cli.session_clients(REGION, None, "http://localhost:4566")("s3")

    assert "localhost" not in s3.meta.endpoint_url


# --- AWS configuration the command cannot find: one line that says what to do ----------------------

NO_PROFILE = (
    "error: no AWS profile 'no-such-profile' in the AWS config files: give --profile NAME of one there, "
    "or set AWS_PROFILE ('aws configure list-profiles' lists them)\n"
)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere boto3 looks (the config files and IMDS are off already)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)


def test_an_unknown_profile_says_to_give_one_of_the_config_files() -> None:
    code, out, err = run_status(cli.session_clients(REGION, "no-such-profile", None))

    assert (code, out, err) == (cli.EXIT_FAILED, "", NO_PROFILE)


def test_an_unknown_profile_in_aws_profile_is_worded_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")

    assert run_status(cli.session_clients(REGION, None, None)) == (cli.EXIT_FAILED, "", NO_PROFILE)


@pytest.mark.usefixtures("credentials")
def test_no_region_says_to_give_region_or_set_aws_region() -> None:
    code, _, err = run_status(cli.session_clients(None, None, None))

    assert code == cli.EXIT_FAILED
    assert err == "error: no AWS Region configured: give --region REGION (the batch's) or set AWS_REGION\n"


@pytest.mark.usefixtures("no_credentials")
def test_no_credentials_says_to_give_a_profile_or_keys() -> None:
    code, _, err = run_status(cli.session_clients(REGION, None, None))

    assert code == cli.EXIT_FAILED
    assert err == (
        "error: no AWS credentials found: give --profile NAME or set AWS_PROFILE (after 'aws sso login' for an "
        "SSO profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    )


@pytest.mark.usefixtures("no_credentials")
def test_partial_credentials_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")

    code, _, err = run_status(cli.session_clients(REGION, None, None))

    assert code == cli.EXIT_FAILED
    assert err == (
        "error: incomplete AWS credentials (Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY): "
        "give --profile NAME or set AWS_PROFILE, or set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    )


@pytest.mark.usefixtures("no_credentials")
def test_a_missing_credential_is_one_line_whichever_command_meets_it(tmp_path: Path) -> None:
    """retry reads its local settings file first, then meets the missing credentials at its first call."""
    settings = tmp_path / "settings.json"
    settings.write_text('[{"runSettingId": "S1"}]')
    stdout, stderr = io.StringIO(), io.StringIO()

    code = cli.main(
        ["retry", BATCH_ID, "--settings", str(settings), "-o", "-", "--region", REGION], stdout=stdout, stderr=stderr
    )

    assert code == cli.EXIT_FAILED
    assert len(stderr.getvalue().splitlines()) == 1
    assert stderr.getvalue().startswith("error: no AWS credentials found: give --profile NAME")
