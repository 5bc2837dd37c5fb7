"""Fixtures for the CLI tests: real boto3 clients under Stubbers, and a way to run main().

Every AWS call a command makes goes to a real client whose Stubber checks the request
against botocore's model (member names, types, required members) and the queued
expected_params; a test fails if a queued response is left unused. Nothing sleeps: main()
gets a sleep that only records its argument.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from omics_batch_cli import main as cli

from .clikit import FakeClients, Result, Run, TtyStringIO, new_client


@pytest.fixture(autouse=True)
def isolated_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The developer's own AWS files and variables never reach a test."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def omics_client() -> Any:
    """One client for the session (each costs about 0.1 s); retries off, stubbed per test."""
    return new_client("omics", retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="session")
def s3_client() -> Any:
    return new_client("s3", retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def omics(omics_client: Any) -> Iterator[Stubber]:
    with Stubber(omics_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def s3(s3_client: Any) -> Iterator[Stubber]:
    with Stubber(s3_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def run_cli(omics_client: Any, s3_client: Any) -> Run:
    """Run main() with the stubbed clients; ``sleep`` may be replaced (to raise, say)."""

    def run(*argv: str, sleep: Callable[[float], None] | None = None, tty: bool = False) -> Result:
        sleeps: list[float] = []
        clients = FakeClients({"omics": omics_client, "s3": s3_client})
        stdout = TtyStringIO() if tty else io.StringIO()
        stderr = io.StringIO()
        code = cli.main(list(argv), clients=clients, sleep=sleep or sleeps.append, stdout=stdout, stderr=stderr)
        return Result(code, stdout.getvalue(), stderr.getvalue(), sleeps, clients.asked)

    return run
