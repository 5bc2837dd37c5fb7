"""RetryPolicy: what the tracker submits again when a batch of the cohort ends.

HealthOmics has no built-in retry: a run refused at submission for quota or a transient
reason, or a run that failed, stays failed unless a new batch submits its setting again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from omics_batch_construct_runtime import outcome
from omics_batch_construct_runtime.outcome import MAX_ATTEMPTS, NEVER_RESUBMITTED, RESUBMITTABLE_FAILURES, Resubmission


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Which failed runs of the cohort are submitted again, in a new batch, and how often.

    Example::

        OmicsRunBatch(stack, "Cohort", ..., retry=RetryPolicy(max_attempts=5, failed_runs=True))
    """

    max_attempts: int = 3
    """Submissions per run, the first one included: 1 to 10. Default: 3."""
    submission_failures: Collection[str] = field(default_factory=lambda: RESUBMITTABLE_FAILURES)
    """The submissionFailureReasons resubmitted. Default: the transient and capacity-bound ones
    (ServiceQuotaExceededException, ThrottlingException, RequestTimeoutException,
    InternalServerException, ConflictException). ValidationException, AccessDeniedException and
    ResourceNotFoundException need the input fixed and are refused."""
    failed_runs: bool = False
    """Also resubmit runs that started and then FAILED. Default: False (reruns cost money; pair it
    with a run cache and ``cache_behavior=CACHE_ON_FAILURE`` so that they resume)."""

    def problems(self, where: str = "retry") -> list[str]:
        """What is wrong with the policy, each naming the field."""
        found = []
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            found.append(f"{where}.max_attempts: expected a whole number, got {self.max_attempts!r}")
        elif not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            found.append(f"{where}.max_attempts: {self.max_attempts}; must be from 1 to {MAX_ATTEMPTS}")
        reasons = [self.submission_failures] if isinstance(self.submission_failures, str) else self.submission_failures
        for reason in sorted(map(str, reasons)):
            if outcome.failure_name(reason) in {outcome.failure_name(r) for r in NEVER_RESUBMITTED}:
                found.append(
                    f"{where}.submission_failures: {reason} is never resubmitted: the run's input must be fixed first"
                )
            elif outcome.failure_name(reason) not in {outcome.failure_name(r) for r in RESUBMITTABLE_FAILURES}:
                found.append(
                    f"{where}.submission_failures: {reason!r} is not a submission failure HealthOmics reports as "
                    f"transient or capacity-bound (one of {', '.join(sorted(RESUBMITTABLE_FAILURES))})"
                )
        if isinstance(self.submission_failures, str):
            found.append(f"{where}.submission_failures: expected a collection of reasons, not one string")
        if not isinstance(self.failed_runs, bool):
            found.append(f"{where}.failed_runs: expected True or False, got {self.failed_runs!r}")
        return found

    def resubmission(self) -> Resubmission:
        """The policy as the tracker applies it (see ``omics_batch_construct_runtime.outcome``)."""
        return Resubmission(
            max_attempts=self.max_attempts,
            submission_failures=frozenset(self.submission_failures),
            failed_runs=self.failed_runs,
        )
