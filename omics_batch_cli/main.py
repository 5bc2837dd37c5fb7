"""``omics-batch``: follow a HealthOmics run batch, list its runs, and rerun what failed.

The operator's side of the construct: after ``cdk deploy`` starts a batch, this watches it
fill up, maps each runSettingId (sample) to its run, and writes the settings of the runs
that failed as a new s3UriSettings file, all without the console.

Exit status: 0 success; 1 the batch did not end cleanly, or an AWS or file error (its
message is printed, never a traceback); 2 bad usage, such as a malformed batch id;
130 interrupted (Ctrl-C).

The commands take their AWS clients from a factory passed to :func:`main`, so tests run
every command against stubbed clients and an injected sleep.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from omics_batch_construct_runtime import contract, layout, lifecycle, outcome, reportpage, tracking
from omics_batch_construct_runtime.errors import ApiError
from omics_batch_construct_runtime.layout import CohortLayout
from omics_batch_construct_runtime.manifest import ManifestStore

from . import cohort, report
from .batches import batch_succeeded, get_batch, is_terminal
from .files import SettingsError, latest_settings, load_settings, select_settings, write_settings
from .view import RUN_WRITERS, cohort_lines, open_view, printable, report_lines, summary_lines, timestamp

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The distribution the command comes in (pyproject.toml's project name).
DISTRIBUTION = "omics-batch-construct"

DEFAULT_INTERVAL_SECONDS = 30.0
DEFAULT_MAX_GET_RUN = outcome.MAX_GET_RUN

# Throttling and transient 5xx are retried with backoff by botocore's standard mode; a
# watch that lasts hours should ride out a burst of throttling rather than stop.
TOTAL_MAX_ATTEMPTS = 8  # the first attempt included
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS}, user_agent_extra="omics-batch-cli"
)

ClientFactory = Callable[[str], Any]  # service name ("omics", "s3") -> boto3 client
Browse = Callable[[str], bool]  # opens a URL in the user's browser; False if none could be


def open_in_browser(url: str) -> bool:
    """The standard library's browser control, imported only when a page is opened."""
    import webbrowser

    return webbrowser.open(url)


def session_clients(region: str | None, profile: str | None, endpoint_url: str | None) -> ClientFactory:
    """boto3 clients with the standard credential, region and endpoint configuration.

    The one place clients are made; tests replace the whole factory. The session is
    created on first use, so ``--help`` and a rejected batch id touch no configuration.
    ``--endpoint-url`` is taken as the exact omics host to call: the model's ``workflows-``
    host prefix is not prepended to it (AWS_ENDPOINT_URL_OMICS with
    AWS_DISABLE_HOST_PREFIX_INJECTION does the same through the environment).
    """

    @functools.cache
    def session() -> Any:
        import boto3

        return boto3.Session(profile_name=profile, region_name=region)

    @functools.cache
    def client(service: str) -> Any:
        if service == "omics" and endpoint_url:
            config = CLIENT_CONFIG.merge(Config(inject_host_prefix=False))
            return session().client(service, endpoint_url=endpoint_url, config=config)
        return session().client(service, config=CLIENT_CONFIG)

    return client


@dataclass(frozen=True)
class Context:
    """What a command needs besides its arguments: clients, a clock to sleep on, streams, a browser."""

    clients: ClientFactory
    sleep: Callable[[float], None]
    stdout: IO[str]
    stderr: IO[str]
    browse: Browse = open_in_browser

    def omics(self) -> Any:
        return self.clients("omics")

    def say(self, message: str) -> None:
        """A note for the operator, on stderr so stdout stays data."""
        print(message, file=self.stderr, flush=True)


# --- commands --------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    """Print the batch (and its cohort) once, or follow it to the end with ``--watch``.

    The first batch of a tracked cohort is followed until the tracker has reported on the
    whole cohort; the exit status is then the cohort's.
    """
    if not args.watch:
        batch = get_batch(ctx.omics(), args.batch_id)
        lines = summary_lines(batch)
        found = cohort.find(batch, lambda: ctx.clients("s3"), ctx.say)
        if found is not None:
            lines += _cohort_lines(ctx, found)
        print("\n".join(lines), file=ctx.stdout)
        return EXIT_OK
    batch = watch(ctx, args.batch_id, args.interval)
    print("\n".join(summary_lines(batch)), file=ctx.stdout)
    found = cohort.find(batch, lambda: ctx.clients("s3"), ctx.say)
    if found is None:
        return EXIT_OK if batch_succeeded(batch) else EXIT_FAILED
    found = follow(ctx, batch, found, args.interval)
    print("\n".join(_cohort_lines(ctx, found)), file=ctx.stdout)
    return EXIT_OK if found.succeeded else EXIT_FAILED


def watch(ctx: Context, batch_id: str, interval: float) -> dict[str, Any]:
    """Poll GetBatch until a terminal status and return the last state.

    A status this release does not know is shown and polled again, never an error: the
    service adds statuses over time.
    """
    with open_view(ctx.stdout) as view:
        while True:
            batch = get_batch(ctx.omics(), batch_id)
            view.update(batch)
            if is_terminal(batch.get("status")):
                return batch
            ctx.sleep(interval)


def follow(ctx: Context, first: dict[str, Any], found: cohort.Cohort, interval: float) -> cohort.Cohort:
    """Poll the cohort's manifest and its unfinished batches until the tracker is done;
    print a line for each batch that starts or changes status."""
    shown: dict[str, str] = {}
    while True:
        for member in found.members:
            if is_terminal(shown.get(member.batch_id)):
                continue
            status = str(get_batch(ctx.omics(), member.batch_id).get("status", "?"))
            if shown.get(member.batch_id) != status:
                shown[member.batch_id] = status
                print(
                    f"{timestamp()} batch {member.batch_id} (part {member.part}, attempt {member.attempt}): "
                    f"{printable(status)}",
                    file=ctx.stdout,
                    flush=True,
                )
        if found.done:
            return found
        ctx.sleep(interval)
        again = cohort.find(first, lambda: ctx.clients("s3"), ctx.say)
        if again is None:
            raise ApiError("GetObject", "NoSuchKey", f"the manifest of cohort {found.first_batch_id} is gone")
        found = again


def _cohort_lines(ctx: Context, found: cohort.Cohort) -> list[str]:
    batches = [(m.part, m.attempt, batch) for m, batch in cohort.statuses(ctx.omics(), found)]
    return cohort_lines(found.first_batch_id, batches, done=found.done, result=found.result)


def cmd_runs(args: argparse.Namespace, ctx: Context) -> int:
    """List every run of the batch (all pages), or of every batch of its cohort, as a table, CSV or JSON."""
    found = cohort.find(get_batch(ctx.omics(), args.batch_id), lambda: ctx.clients("s3"), ctx.say)
    if found is None or len(found.members) == 1:
        RUN_WRITERS[args.format](outcome.runs_in_batch(ctx.omics(), args.batch_id), ctx.stdout)
        return EXIT_OK
    runs = (
        {**run, "attempt": member.attempt, "batchId": member.batch_id}
        for member in found.in_attempt_order()
        for run in outcome.runs_in_batch(ctx.omics(), member.batch_id)
    )
    RUN_WRITERS[args.format](runs, ctx.stdout, cohort=True)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    """Print a reported cohort's summary, from its report.json streamed through the tracker's own
    summary (counts, cost, durations, failure groups). With ``--html FILE`` or ``--open``, also
    write its report.html there (the tracker's; made from report.json when the cohort has none),
    and with ``--open`` open it in the browser."""
    batch = get_batch(ctx.omics(), args.batch_id)
    found = cohort.find(batch, lambda: ctx.clients("s3"), ctx.say)
    files = cohort.layout_of(batch)
    if found is None or files is None:
        ctx.say(
            f"error: batch {args.batch_id} has no cohort manifest under its outputUri: a report is written for the "
            "first batch of a tracked OmicsRunBatch"
        )
        return EXIT_FAILED
    if not found.done:
        ctx.say(
            f"error: cohort {args.batch_id} is still being tracked: its report is written once every batch has "
            f"ended (omics-batch status {args.batch_id} --watch follows it there)"
        )
        return EXIT_FAILED
    s3 = ctx.clients("s3")
    summary = report.summary(s3, files, ctx.say)
    detail = report.detail(batch, found, files)
    print("\n".join(report_lines(summary, detail)), file=ctx.stdout)
    if not (args.html or args.open):
        return EXIT_OK
    target = Path(args.html or f"report-{args.batch_id}.html")
    page = report.page(s3, files)
    if page is None:
        ctx.say(
            f"note: cohort {args.batch_id} has no report.html (an earlier release reported it): made from report.json"
        )
        page = reportpage.render(summary, detail).encode()
    target.write_bytes(page)
    ctx.say(f"wrote {target}")
    if args.open and not ctx.browse(target.resolve().as_uri()):
        ctx.say(f"note: no browser could be opened here: open {target} yourself")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace, ctx: Context) -> int:
    """Write the original settings of the failed runs as a new s3UriSettings file.

    For a cohort, a run's last attempt decides. Without ``--settings``, the settings files the
    cohort's manifest records are read (each part's). Exit status 1 when some submitted runs'
    status could not be read (the file is still written: they may have failed too and are not
    in it), and when no settings are given and none are recorded (nothing is written).
    """
    s3 = functools.partial(ctx.clients, "s3")
    given = [entry for source in args.settings or () for entry in load_settings(source, s3)]  # before any call
    batch = get_batch(ctx.omics(), args.batch_id)
    found = cohort.find(batch, s3, ctx.say)
    if not args.settings:
        sources = _recorded_settings(ctx, args.batch_id, found)
        if not sources:
            return EXIT_FAILED
        given = [entry for source in sources for entry in load_settings(source, s3)]
    settings = latest_settings(given)
    if found is not None and not found.done:
        ctx.say(f"warning: cohort {args.batch_id} is still being tracked: runs may still fail or be resubmitted")
    elif found is None and not is_terminal(batch.get("status")):
        ctx.say(f"warning: batch {args.batch_id} is {printable(batch.get('status'))}: runs may still fail after this")
    if found is None:
        rows = outcome.batch_rows(ctx.omics(), args.batch_id, max_get_run=args.max_get_run)
    else:
        rows = [row for row, _ in cohort.rows(ctx.omics(), found, args.max_get_run)]
    chosen = select_settings(settings, outcome.retry_ids(rows))
    write_settings(chosen, args.output, ctx.stdout)
    submission_failed = sum(1 for row in rows if row.submissionStatus == outcome.FAILED)
    run_failed = sum(1 for row in rows if row.runStatus == outcome.FAILED)
    ctx.say(
        f"wrote {len(chosen)} run setting(s) to {args.output}: "
        f"{submission_failed} failed to submit, {run_failed} run(s) failed"
    )
    never_submitted = len({s["runSettingId"] for s in settings} - {row.runSettingId for row in rows})
    if never_submitted:
        ctx.say(f"note: {never_submitted} setting(s) have no run in the batch (never submitted); not included")
    unknown = [row.runSettingId for row in rows if outcome.is_unknown(row)]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        ctx.say(
            f"warning: the run status of {len(unknown)} submitted run(s) could not be read "
            f"(not listed, not found, or over --max-get-run); not included: {shown}"
        )
        return EXIT_FAILED
    return EXIT_OK


def _recorded_settings(ctx: Context, batch_id: str, found: cohort.Cohort | None) -> tuple[str, ...]:
    """The settings files the cohort's manifest records, said so; () with an error saying to give them."""
    if found is None:
        ctx.say(
            f"error: no record of batch {batch_id}'s run settings (the manifest of a tracked OmicsRunBatch's "
            "cohort records them, under its outputUri): give --settings FILE_OR_S3_URI, once per settings file"
        )
        return ()
    if not found.settings_files:
        ctx.say(
            f"error: the manifest of cohort {batch_id} records no settings files (its tracking has not checked it "
            "yet, or is of an earlier release): give --settings FILE_OR_S3_URI, once per settings file"
        )
        return ()
    shown = found.settings_files[0] + (
        f" and {len(found.settings_files) - 1} more" if len(found.settings_files) > 1 else ""
    )
    ctx.say(f"note: reading the run settings the manifest of cohort {batch_id} records: {shown}")
    return found.settings_files


def cmd_stop(args: argparse.Namespace, ctx: Context) -> int:
    """``cancel``: cancel every batch of the cohort and every run that started; ``delete``: also
    delete the runs and the batches (outputs in S3 stay). What a destroy does with ``on_delete``
    CANCEL_RUNS or DELETE_RUNS_AND_BATCH, step for step (``omics_batch_construct_runtime.lifecycle``), until done:
    the command that finishes a delete the custom resource's hour cut short."""
    on_delete = contract.ON_DELETE_CANCEL_RUNS if args.command == "cancel" else contract.ON_DELETE_DELETE_RUNS_AND_BATCH
    ids = _cohort_ids(ctx, args.batch_id) + [b for b in args.more if b != args.batch_id]
    ids = list(dict.fromkeys(ids))
    what = "cancel" if args.command == "cancel" else "cancel and delete"
    if not args.yes:
        ctx.say(f"would {what} batches {', '.join(ids)} and their runs; give --yes to do it")
        return EXIT_USAGE
    shown: dict[str, str] = {}
    while True:
        progress = [lifecycle.advance_delete(ctx.omics(), batch_id, on_delete) for batch_id in ids]
        for step in progress:
            line = "done" if step.done else step.left
            if shown.get(step.batch_id) != line:
                shown[step.batch_id] = line
                print(f"{timestamp()} batch {step.batch_id}: {printable(line)}", file=ctx.stdout, flush=True)
        if all(step.done for step in progress):
            return EXIT_OK
        ctx.sleep(args.interval)


def _cohort_ids(ctx: Context, batch_id: str) -> list[str]:
    """The batch and, when it is a cohort's first, every batch its manifest names."""
    try:
        batch = get_batch(ctx.omics(), batch_id)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        ctx.say(f"note: batch {batch_id} is gone; its cohort's other batches must be named after it")
        return []
    found = cohort.find(batch, lambda: ctx.clients("s3"), ctx.say)
    if found is not None and not found.done:
        ctx.say(
            f"warning: cohort {batch_id} may still be tracked: destroy the stack first, or its tracker may start more"
        )
    return [m.batch_id for m in found.members] if found else [batch_id]


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    """Start a cohort's tracking again: for a cohort whose tracking stopped before it reported
    (stopped, failed, taken back by a revert, a crash), a new execution carries it on from its
    manifest to one report and one completion event. The deploy takes the same path
    (``omics_batch_construct_runtime.tracking``)."""
    batch = get_batch(ctx.omics(), args.batch_id)
    output = str((batch.get("defaultRunSetting") or {}).get("outputUri") or "")
    if not output:
        ctx.say(f"error: batch {args.batch_id} has no outputUri, so its cohort's manifest cannot be found")
        return EXIT_FAILED
    store = ManifestStore(ctx.clients("s3"), CohortLayout(layout.report_uri(output), args.batch_id))
    recorded = store.read()
    machine = args.state_machine or (recorded.state_machine_arn if recorded else "")
    if not machine:
        ctx.say(
            f"error: the manifest of cohort {args.batch_id} names no tracking state machine (tracked by an earlier "
            "release, or never): give --state-machine ARN (the stack's OmicsRunBatch state_machine)"
        )
        return EXIT_FAILED
    sfn = ctx.clients("stepfunctions")
    chosen = tracking.plan(sfn, machine, args.batch_id, store=store)
    if chosen.state == "done":
        ctx.say(f"cohort {args.batch_id} was tracked to its report already: nothing to resume")
        return EXIT_FAILED
    if chosen.state == "running" and not chosen.reopen:
        ctx.say(f"cohort {args.batch_id} is being tracked by execution {chosen.name}: nothing to resume")
        return EXIT_FAILED
    if chosen.reopen and not args.force and chosen.manifest is not None and chosen.manifest.closed is not None:
        ctx.say(
            f"cohort {args.batch_id} was let go by its stack ({chosen.manifest.closed.cause}): a deploy that takes "
            "it back resumes it; give --force to resume it now (an execution whose state machine a replacement "
            "changed since ends at once, starting nothing)"
        )
        return EXIT_FAILED
    reopening = " (reopening its manifest, which the stack had closed)" if chosen.reopen else ""
    doing = f"start execution {chosen.name} of {machine}" if chosen.state == "start" else "leave it running"
    if args.dry_run:
        print(f"would {doing} for cohort {args.batch_id}{reopening}", file=ctx.stdout)
        return EXIT_OK
    tracked = tracking.ensure(sfn, machine, args.batch_id, store=store)
    if tracked.state == "pending":
        ctx.say(f"error: execution {tracked.name} could not be started now; try again")
        return EXIT_FAILED
    print(f"cohort {args.batch_id}: {tracked.state} {tracked.name}{reopening}".rstrip(), file=ctx.stdout)
    return EXIT_OK


# --- arguments -------------------------------------------------------------------------


def package_version() -> str:
    """The installed distribution's version; from a checkout that is not installed (on the path,
    as ``make`` puts it), its pyproject.toml's; else "unknown"."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    try:
        with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as f:
            project = tomllib.load(f).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return "unknown"
    return str(project["version"]) if project.get("name") == DISTRIBUTION and "version" in project else "unknown"


def batch_id(value: str) -> str:
    """argparse type: a batch id as the model defines it, checked before any call."""
    if not outcome.is_batch_id(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a batch id (1 to 18 digits)")
    return value


def seconds(value: str) -> float:
    """argparse type: a non-negative number of seconds (0 polls without pausing)."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return number


def positive_int(value: str) -> int:
    """argparse type: a whole number >= 0."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return int(value)


def _add_connection_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """--region/--profile/--endpoint-url, accepted before or after the command.

    On the subcommands the default is SUPPRESS, so an option given before the command is
    not overwritten by the subcommand's own default.
    """
    group = parser.add_argument_group("AWS options (otherwise the standard AWS configuration)")
    group.add_argument("--region", default=default, help="AWS Region of the batch")
    group.add_argument("--profile", default=default, help="named profile from the AWS config files")
    group.add_argument(
        "--endpoint-url", default=default, help="HealthOmics endpoint to call as given (no 'workflows-' host prefix)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line: status, runs, report, retry, cancel, delete and resume, each taking a batch id."""
    parser = argparse.ArgumentParser(
        prog="omics-batch",
        description="Follow an AWS HealthOmics run batch, list its runs, and rerun the ones that failed.",
        epilog="Exit status: 0 ok; 1 batch not clean, AWS or file error; 2 usage error; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    _add_connection_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace, Context], int], help_text: str) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("batch_id", type=batch_id, metavar="BATCH_ID", help="the batch id (digits)")
        _add_connection_options(sub, argparse.SUPPRESS)
        sub.set_defaults(handler=handler)
        return sub

    status = command(
        "status", cmd_status, "Show a batch's status, submission counts and run counts, and its cohort's batches."
    )
    status.add_argument(
        "--watch",
        action="store_true",
        help="follow until a terminal status (a tracked cohort: until its report); exit 0 only if clean",
    )
    status.add_argument(
        "--interval",
        type=seconds,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help=f"time between polls with --watch (default {DEFAULT_INTERVAL_SECONDS:g})",
    )

    runs = command(
        "runs", cmd_runs, "List every run (of every batch of a cohort): runSettingId, runId, submission, failure."
    )
    output = runs.add_mutually_exclusive_group()
    output.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV with the API's names")
    output.add_argument("--json", dest="format", action="store_const", const="json", help="the API's items as JSON")
    runs.set_defaults(format="table")

    shown = command(
        "report", cmd_report, "Summarize a reported cohort: counts, cost, durations, failures; its report.html."
    )
    shown.add_argument("--html", metavar="FILE", help="write the cohort's report.html to FILE")
    shown.add_argument(
        "--open",
        action="store_true",
        help="write report.html (to --html FILE, default report-BATCH_ID.html) and open it in the browser",
    )

    retry = command(
        "retry", cmd_retry, "Write the settings of the runs that failed to submit or failed, for a new batch."
    )
    retry.add_argument(
        "--settings",
        action="append",
        metavar="FILE_OR_S3_URI",
        help="the batch's settings: a JSON file or s3://bucket/key; repeat it for a cohort's parts "
        "(default: the settings files the cohort's manifest records, for a tracked OmicsRunBatch)",
    )
    retry.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write the JSON array ('-': stdout)"
    )
    retry.add_argument(
        "--max-get-run",
        type=positive_int,
        default=DEFAULT_MAX_GET_RUN,
        metavar="N",
        help=f"GetRun calls allowed for runs ListRuns no longer lists (default {DEFAULT_MAX_GET_RUN})",
    )
    for name, text in (
        ("cancel", "Cancel every batch of the cohort and every run that started (on_delete CANCEL_RUNS)."),
        ("delete", "Cancel, then delete the runs and the batches of the cohort (DELETE_RUNS_AND_BATCH)."),
    ):
        stop = command(name, cmd_stop, text)
        stop.add_argument("more", nargs="*", type=batch_id, metavar="MORE_BATCH_IDS", help="further batches to include")
        stop.add_argument("--yes", action="store_true", help="do it (without it: say what it would do, exit 2)")
        stop.add_argument(
            "--interval",
            type=seconds,
            default=DEFAULT_INTERVAL_SECONDS,
            metavar="SECONDS",
            help=f"time between steps (default {DEFAULT_INTERVAL_SECONDS:g})",
        )
    resume = command(
        "resume", cmd_resume, "Start the tracking of a cohort again (stopped, failed or let go), to its report."
    )
    resume.add_argument(
        "--state-machine",
        metavar="ARN",
        help="the cohort's tracking state machine (default: the one its manifest names)",
    )
    resume.add_argument("--dry-run", action="store_true", help="say what it would do, and do nothing")
    resume.add_argument("--force", action="store_true", help="also a cohort its stack let go (its manifest closed)")
    return parser


# --- entry point -----------------------------------------------------------------------


def _configuration_message(error: BotoCoreError) -> str | None:
    """What to do when boto3 finds no profile, credentials or Region (in one line), or None."""
    if isinstance(error, ProfileNotFound):
        return (
            f"no AWS profile {error.kwargs.get('profile', '')!r} in the AWS config files: give --profile NAME of "
            "one there, or set AWS_PROFILE ('aws configure list-profiles' lists them)"
        )
    if isinstance(error, PartialCredentialsError):
        return (
            f"incomplete AWS credentials ({error}): give --profile NAME or set AWS_PROFILE, or set both "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found: give --profile NAME or set AWS_PROFILE (after 'aws sso login' for an SSO "
            "profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, NoRegionError):
        return "no AWS Region configured: give --region REGION (the batch's) or set AWS_REGION"
    return None


def _error_message(error: Exception) -> str:
    """The service's own words for a ClientError; what to do for missing AWS configuration;
    botocore's message otherwise."""
    if isinstance(error, BotoCoreError) and (advice := _configuration_message(error)) is not None:
        return advice
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Error")
        return f"{code}: {details.get('Message') or error}"
    if isinstance(error, ApiError):
        return f"{error.code}: {error.message or error}"
    return str(error)


def _quiet_broken_pipe(stream: IO[str]) -> None:
    """After `omics-batch runs ... | head`: stop writing to the closed pipe, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's StringIO)
        pass


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: ClientFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    browse: Browse = open_in_browser,
) -> int:
    """Run one command and return its exit status (argparse exits 2 itself on bad usage)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    ctx = Context(
        clients=clients or session_clients(args.region, args.profile, args.endpoint_url),
        sleep=sleep,
        stdout=stdout,
        stderr=stderr,
        browse=browse,
    )
    handler: Callable[[argparse.Namespace, Context], int] = args.handler
    try:
        return handler(args, ctx)
    except KeyboardInterrupt:
        ctx.say("interrupted (the batch itself is not affected)")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe(stdout)
        return EXIT_FAILED
    except (ClientError, BotoCoreError, ApiError, SettingsError, OSError) as error:
        ctx.say(f"error: {printable(_error_message(error))}")
        return EXIT_FAILED
