"""What the command line accepts before any AWS call is made."""

from __future__ import annotations

import io
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from omics_batch_cli import main as cli

from .clikit import BATCH_ID, GET_BATCH, FakeClients, Run, batch


@pytest.mark.parametrize("bad_id", ["abc", "12a", "", "1234567890123456789", "-1", "run/123"])
@pytest.mark.parametrize(
    "command", [["status"], ["status", "--watch"], ["runs"], ["retry", "--settings", "s.json", "-o", "r.json"]]
)
def test_a_malformed_batch_id_exits_2_before_any_client_is_made(
    capsys: pytest.CaptureFixture[str], command: list[str], bad_id: str
) -> None:
    argv = [command[0], bad_id, *command[1:]]
    made: list[str] = []

    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv, clients=made.append)

    assert exit_info.value.code == cli.EXIT_USAGE
    assert f"argument BATCH_ID: {bad_id!r} is not a batch id (1 to 18 digits)" in capsys.readouterr().err
    assert made == []


@pytest.mark.parametrize("interval", ["-1", "soon", "nan", "inf"])
def test_interval_must_be_a_number_of_seconds(capsys: pytest.CaptureFixture[str], interval: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["status", BATCH_ID, "--watch", "--interval", interval], clients=lambda _: None)

    assert exit_info.value.code == cli.EXIT_USAGE
    assert "is not a number of seconds >= 0" in capsys.readouterr().err


def test_the_default_interval_is_used_between_polls(omics: Stubber, run_cli: Run) -> None:
    omics.add_response("get_batch", batch("SUBMITTING"), GET_BATCH)
    omics.add_response("get_batch", batch("PROCESSED"), GET_BATCH)

    assert run_cli("status", BATCH_ID, "--watch").sleeps == [cli.DEFAULT_INTERVAL_SECONDS]


@pytest.mark.parametrize(
    "argv",
    [
        ["--region", "eu-west-2", "--profile", "lab", "--endpoint-url", "http://localhost:4566", "status", BATCH_ID],
        ["status", BATCH_ID, "--region", "eu-west-2", "--profile", "lab", "--endpoint-url", "http://localhost:4566"],
        ["--region", "eu-west-2", "status", BATCH_ID, "--profile", "lab", "--endpoint-url", "http://localhost:4566"],
    ],
)
def test_aws_options_reach_the_client_factory_before_or_after_the_command(
    monkeypatch: pytest.MonkeyPatch, omics: Stubber, omics_client: Any, argv: list[str]
) -> None:
    seen: list[tuple[Any, ...]] = []

    def factory(*options: Any) -> FakeClients:
        seen.append(options)
        return FakeClients({"omics": omics_client})

    monkeypatch.setattr(cli, "session_clients", factory)
    omics.add_response("get_batch", batch("PROCESSED"), GET_BATCH)

    assert cli.main(argv, stdout=io.StringIO(), stderr=io.StringIO()) == cli.EXIT_OK
    assert seen == [("eu-west-2", "lab", "http://localhost:4566")]


def test_version_is_the_installed_distributions(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(metadata, "version", {cli.DISTRIBUTION: "9.8.7"}.__getitem__)
    made: list[str] = []

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"], clients=made.append)

    assert exit_info.value.code == cli.EXIT_OK
    assert capsys.readouterr().out == "omics-batch 9.8.7\n"
    assert made == []


def test_version_of_a_checkout_that_is_not_installed_is_its_pyprojects(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    with (Path(cli.__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
        expected = tomllib.load(f)["project"]["version"]

    with pytest.raises(SystemExit):
        cli.main(["--version"], clients=lambda _: None)

    assert capsys.readouterr().out == f"omics-batch {expected}\n"


def test_version_is_unknown_without_metadata_or_the_projects_pyproject(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\nversion = "1.0"\n')
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "omics_batch_cli" / "main.py"))

    assert cli.package_version() == "unknown"
