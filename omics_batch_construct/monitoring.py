"""Monitoring: the cohort's CloudWatch dashboard and alarms, and where the alarms go.

The tracker and the insight function publish the cohort's metrics as embedded metric format log
lines (``omics_batch_construct_runtime.metrics``); the dashboard shows them beside the tracking state machine's,
the insight queues' and the functions' own metrics, and four alarms watch what needs a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns

# The failed-runs alarm's default: more than this share of the cohort's runs failed.
DEFAULT_FAILED_RUNS_SHARE = 0.01


@dataclass(frozen=True, kw_only=True)
class Monitoring:
    """A dashboard and alarms for the cohort (they watch the tracker: ``track_completion=True``).

    Example::

        OmicsRunBatch(stack, "Cohort", ..., monitoring=Monitoring(alarm_topic=on_call, failed_runs_threshold=10))
    """

    failed_runs_threshold: int | None = None
    """The failed-runs alarm goes off when more runs than this have failed (every attempt of a run
    counts). Default: 1 % of the cohort's runs, rounded down (0, any failed run, below 100 runs)."""
    alarm_topic: sns.ITopic | None = None
    """An SNS topic each alarm notifies when it goes off. Its policy must let CloudWatch publish
    (``cloudwatch.amazonaws.com``), and an encrypted topic's key let it use the key (a key of this
    app is given the statement). Default: none (the alarms show on the dashboard and the console)."""
    dashboard: bool = True
    """A CloudWatch dashboard of the cohort. Default: True."""

    def problems(self, where: str = "monitoring") -> list[str]:
        """What is wrong with the settings, each naming the field."""
        found = []
        threshold = self.failed_runs_threshold
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0):
            found.append(f"{where}.failed_runs_threshold: {threshold!r}; must be a whole number, 0 or more")
        if self.alarm_topic is not None and not hasattr(self.alarm_topic, "topic_arn"):
            found.append(f"{where}.alarm_topic: expected an sns.ITopic, got {type(self.alarm_topic).__name__}")
        if not isinstance(self.dashboard, bool):
            found.append(f"{where}.dashboard: expected True or False, got {self.dashboard!r}")
        return found

    def threshold(self, run_count: int) -> int:
        """The failed-runs alarm's threshold for a cohort of ``run_count`` runs."""
        if self.failed_runs_threshold is not None:
            return self.failed_runs_threshold
        return int(run_count * DEFAULT_FAILED_RUNS_SHARE)


@dataclass(frozen=True)
class BatchAlarms:
    """The cohort's alarms (``batch.alarms``); iterating gives each one."""

    failed_runs: cloudwatch.Alarm
    """More runs failed than ``Monitoring.failed_runs_threshold``, while the cohort runs."""
    tracking_failed: cloudwatch.Alarm
    """An execution of the tracking state machine failed: BatchNotClean (runs failed), BatchNotFound
    (a batch was deleted) or TrackingStalled."""
    tracking_delayed: cloudwatch.Alarm
    """A step of the tracking keeps failing ("Tracking Delayed" events); it goes on trying."""
    insight_dead_letters: cloudwatch.Alarm
    """Ended runs could not be recorded: messages in the insight dead-letter queue."""

    def __iter__(self) -> Iterator[cloudwatch.Alarm]:
        return iter((self.failed_runs, self.tracking_failed, self.tracking_delayed, self.insight_dead_letters))
