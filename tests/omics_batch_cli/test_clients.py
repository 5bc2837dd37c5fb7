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


def test_an_unknown_profile_is_an_error_message() -> None:
    code, _, err = run_status(cli.session_clients(REGION, "no-such-profile", None))

    assert code == cli.EXIT_FAILED
    assert err == "error: The config profile (no-such-profile) could not be found\n"


@pytest.mark.usefixtures("credentials")
def test_no_region_is_an_error_message() -> None:
    code, _, err = run_status(cli.session_clients(None, None, None))

    assert code == cli.EXIT_FAILED
    assert err == "error: You must specify a region.\n"
