"""Synth-time validation of a batch against botocore's omics model.

Every constraint the model states (required members, enums, lengths, numeric ranges, id
patterns, map and list sizes) is checked here, so that a typo fails ``cdk synth`` with a
message naming the argument and the run instead of failing a deploy minutes later.
Checkers are compiled once per model shape, because a batch can hold 100,000 runs.

The S3 URIs (``output_uri``, the default's and each run's) must also be ``s3://bucket/prefix``
with a valid bucket name: the model accepts any text there, and the construct grants the
run role what they name.

Values that are unresolved CDK tokens (known only at deploy time) are skipped.

Runs take a fast path first: predicates compiled from the same model metadata answer
"certainly valid, and free of tokens" without building any message. A run they cannot
vouch for (a problem, a token, a type out of the ordinary) goes through the full checker,
which finds and words its problems. So every run is checked against every constraint,
and the messages are the full checker's.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import regex
from aws_cdk import Token
from botocore.model import Shape, StructureShape

from omics_batch_construct_runtime import contract, outcome
from omics_batch_construct_runtime.omics import service_model

from ._errors import ProblemsError
from ._settings_files import dumps_runs, remove_settings_files, write_settings_files
from .run_settings import DefaultRunSetting, RunSetting, Samplesheet, WorkflowType
from .samplesheet import arguments

# A checker appends "<where>: <problem>" lines for a value found at <where>.
Checker = Callable[[Any, str, list[str]], None]

_STRING_TOKEN = "${Token["
_LIST_TOKEN = "#{Token["
# CDK encodes numeric tokens as doubles near -1.9e289.
_NUMBER_TOKEN_MAGNITUDE = 1e200


def is_token(value: Any) -> bool:
    """Whether the value is (or contains) an unresolved CDK token.

    Strings and numbers are tested without a round trip to the jsii kernel, which would
    cost about 100 microseconds a value; only what could be a token takes the slow path.
    """
    if isinstance(value, str):
        return _STRING_TOKEN in value or _LIST_TOKEN in value
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        # An infinity is no token, and would stop the jsii kernel (its JSON has no Infinity).
        return abs(value) > _NUMBER_TOKEN_MAGNITUDE and math.isfinite(value) and Token.is_unresolved(value)
    if isinstance(value, (Mapping, list, tuple)):
        return False
    try:
        return bool(Token.is_unresolved(value))
    except Exception:  # not something jsii can even look at, so not a token
        return False


_TOKEN_START = re.compile(r"[$#]\{Token\[")


def s3_uri_problem(value: Any) -> str | None:
    """Why an S3 URI argument is not ``s3://bucket/prefix`` with a valid bucket name, or None.

    A value holding a deploy-time token is judged by its known start only: ``s3://`` (or the
    beginning of it), and the bucket when the start holds it whole. Not a string: None (the
    type is the model checker's problem).
    """
    if not isinstance(value, str):
        return None
    if not is_token(value):
        return outcome.s3_uri_problem(value)
    head = _TOKEN_START.split(value, maxsplit=1)[0]
    if not head.startswith(outcome.S3_SCHEME):
        return None if outcome.S3_SCHEME.startswith(head) else "is not an s3://bucket/prefix URI"
    bucket, slash, _ = head[len(outcome.S3_SCHEME) :].partition("/")
    return outcome.s3_uri_problem(f"{outcome.S3_SCHEME}{bucket}") if slash else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def _pattern(pattern: str) -> Any:
    # Smithy patterns use \p{...} classes, which `regex` understands and `re` does not.
    # The service matches the whole value, so the checker does too.
    return regex.compile(pattern)


def _string_checker(shape: Shape) -> Checker:
    meta = shape.metadata
    enum = frozenset(meta["enum"]) if "enum" in meta else None
    low, high = meta.get("min"), meta.get("max")
    pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
    # The model's catch-all "printable text" patterns read badly in an error message.
    mismatch = (
        "contains a character the service does not accept (letters, marks, numbers, symbols, "
        "punctuation and spaces only)"
        if pattern is not None and "\\p{" in pattern.pattern
        else f"does not match the pattern {pattern.pattern if pattern is not None else ''}"
    )

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {_short(value)}")
            return
        if is_token(value):
            return
        if enum is not None and value not in enum:
            problems.append(f"{where}: {_short(value)} is not one of {', '.join(sorted(enum))}")
            return
        if low is not None and len(value) < low:
            problems.append(f"{where}: {_short(value)} is shorter than {low} characters")
        elif high is not None and len(value) > high:
            problems.append(f"{where}: {len(value)} characters, more than the maximum {high}")
        elif pattern is not None and pattern.fullmatch(value) is None:
            problems.append(f"{where}: {_short(value)} {mismatch}")

    return check


def _integer_checker(shape: Shape) -> Checker:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")

    def check(value: Any, where: str, problems: list[str]) -> None:
        if isinstance(value, float) and is_token(value):
            return
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected a whole number, got {_short(value)}")
        elif low is not None and value < low:
            problems.append(f"{where}: {value} is below the minimum {low}")
        elif high is not None and value > high:
            problems.append(f"{where}: {value} is above the maximum {high}")

    return check


def _boolean_checker(_shape: Shape) -> Checker:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, bool) and not is_token(value):
            problems.append(f"{where}: expected True or False, got {_short(value)}")

    return check


def _document_problem(value: Any) -> str | None:
    """Why a document (workflow parameters, engine settings) is not plain JSON, if it is not."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {_short(key)} is not a string"
            problem = _document_problem(item)
            if problem:
                return f"[{key!r}]: {problem}"
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = _document_problem(item)
            if problem:
                return f"[{index}]: {problem}"
        return None
    if is_token(value):
        return None
    return f"{_short(value)} is not JSON (str, number, bool, None, list or dict)"


def _document_checker(_shape: Shape) -> Checker:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, Mapping):
            if not is_token(value):
                problems.append(f"{where}: expected a dict, got {_short(value)}")
            return
        problem = _document_problem(value)
        if problem:
            problems.append(f"{where}{problem if problem.startswith('[') else ': ' + problem}")

    return check


def _map_checker(shape: Shape) -> Checker:
    key_check = compile_shape(shape.key)
    value_check = compile_shape(shape.value)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, Mapping):
            if not is_token(value):
                problems.append(f"{where}: expected a dict, got {_short(value)}")
            return
        if low is not None and len(value) < low:
            problems.append(f"{where}: {len(value)} entries, fewer than the minimum {low}")
        if high is not None and len(value) > high:
            problems.append(f"{where}: {len(value)} entries, more than the maximum {high}")
        for key, item in value.items():
            key_check(key, f"{where} key {_short(key)}", problems)
            value_check(item, f"{where}[{key!r}]", problems)

    return check


def _list_checker(shape: Shape) -> Checker:
    member_check = compile_shape(shape.member)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, (list, tuple)):
            if not is_token(value):
                problems.append(f"{where}: expected a list, got {_short(value)}")
            return
        if low is not None and len(value) < low:
            problems.append(f"{where}: {len(value)} items, fewer than the minimum {low}")
        if high is not None and len(value) > high:
            problems.append(f"{where}: {len(value)} items, more than the maximum {high}")
        for index, item in enumerate(value):
            member_check(item, f"{where}[{index}]", problems)

    return check


def _structure_checker(shape: Shape, names: Mapping[str, str] | None = None) -> Checker:
    """A checker for an API structure, reporting members by their Python (snake_case) names."""
    assert isinstance(shape, StructureShape)
    names = names or {}
    members = {m: (names.get(m, m), compile_shape(s)) for m, s in shape.members.items()}
    required = tuple((m, names.get(m, m)) for m in shape.required_members)

    def check(value: Any, where: str, problems: list[str]) -> None:
        prefix = f"{where}." if where else ""
        for member, label in required:
            if value.get(member) is None:
                problems.append(f"{prefix}{label}: required")
        for member, item in value.items():
            entry = members.get(member)
            if entry is None:
                problems.append(f"{prefix}{member}: not a member of {shape.name}")
            else:
                entry[1](item, prefix + entry[0], problems)

    return check


_CHECKERS: dict[str, Callable[[Shape], Checker]] = {
    "string": _string_checker,
    "integer": _integer_checker,
    "long": _integer_checker,
    "boolean": _boolean_checker,
    "map": _map_checker,
    "list": _list_checker,
    "structure": _structure_checker,
}


def compile_shape(shape: Shape) -> Checker:
    """A checker for values of this model shape."""
    if shape.metadata.get("document"):
        return _document_checker(shape)
    return _CHECKERS[shape.type_name](shape)


# --- the fast path for runs -----------------------------------------------------------

# A predicate is True only when the value certainly passes its checker and holds no token;
# False means "not sure": the full checker then decides and words the problem.
Predicate = Callable[[Any], bool]
# Anything that could be part of a string token ("${Token[" or "#{Token[").
_TOKEN_MARK = "{Token["
# A pattern that is one character class repeated, like the model's "printable text".
_ONE_CLASS_REPEATED = re.compile(r"\[[^\[\]]*\]\+")
_PRINTABLE_ASCII = tuple(chr(c) for c in range(0x20, 0x7F))


def _never(_value: Any) -> bool:
    return False


def _string_predicate(shape: Shape) -> Predicate:
    meta = shape.metadata
    enum = frozenset(meta["enum"]) if "enum" in meta else None
    low, high = meta.get("min", 0), meta.get("max", sys.maxsize)
    pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
    if enum is not None:
        return lambda v: (
            type(v) is str
            and v in enum
            and low <= len(v) <= high
            and _TOKEN_MARK not in v
            and (pattern is None or pattern.fullmatch(v) is not None)
        )
    if pattern is None:
        return lambda v: type(v) is str and low <= len(v) <= high and _TOKEN_MARK not in v
    if _ONE_CLASS_REPEATED.fullmatch(pattern.pattern) and all(pattern.fullmatch(c) for c in _PRINTABLE_ASCII):
        # Every non-empty run of printable ASCII matches: test that in C, the regex otherwise.
        low = max(low, 1)
        return lambda v: (
            type(v) is str
            and low <= len(v) <= high
            and _TOKEN_MARK not in v
            and ((v.isascii() and v.isprintable()) or pattern.fullmatch(v) is not None)
        )
    return lambda v: (
        type(v) is str and low <= len(v) <= high and _TOKEN_MARK not in v and (pattern.fullmatch(v) is not None)
    )


def _integer_predicate(shape: Shape) -> Predicate:
    low, high = shape.metadata.get("min", -math.inf), shape.metadata.get("max", math.inf)
    return lambda v: type(v) is int and low <= v <= high


def _boolean_predicate(_shape: Shape) -> Predicate:
    return lambda v: type(v) is bool


def _plain_json(value: Any) -> bool:
    """Whether a document value is plain JSON (dict, list, str, int, bool, None, float) with no token."""
    kind = type(value)
    if kind is str:
        return _TOKEN_MARK not in value
    if kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return bool(-_NUMBER_TOKEN_MAGNITUDE <= value <= _NUMBER_TOKEN_MAGNITUDE)  # False for NaN too
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            if type(item) is str:
                if _TOKEN_MARK in item:
                    return False
            elif not _plain_json(item):
                return False
        return True
    if kind is list:
        return all(map(_plain_json, value))
    return False


def _document_predicate(_shape: Shape) -> Predicate:
    return lambda v: type(v) is dict and _plain_json(v)


def _map_predicate(shape: Shape) -> Predicate:
    key_ok = compile_predicate(shape.key)
    value_ok = compile_predicate(shape.value)
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max", sys.maxsize)

    def ok(value: Any) -> bool:
        if type(value) is not dict or not low <= len(value) <= high:
            return False
        for key, item in value.items():  # noqa: SIM110 - a loop: all() over a generator is slower here
            if not (key_ok(key) and value_ok(item)):
                return False
        return True

    return ok


def _list_predicate(shape: Shape) -> Predicate:
    member_ok = compile_predicate(shape.member)
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max", sys.maxsize)
    return lambda v: type(v) is list and low <= len(v) <= high and all(map(member_ok, v))


_PREDICATES: dict[str, Callable[[Shape], Predicate]] = {
    "string": _string_predicate,
    "integer": _integer_predicate,
    "long": _integer_predicate,
    "boolean": _boolean_predicate,
    "map": _map_predicate,
    "list": _list_predicate,
}


def compile_predicate(shape: Shape) -> Predicate:
    """A fast test that a value of this shape is valid and token-free (False: "not sure")."""
    if shape.metadata.get("document"):
        return _document_predicate(shape)
    return _PREDICATES.get(shape.type_name, lambda _shape: _never)(shape)


# A run's fields by name: a RunSetting's __dict__.
FastRun = Callable[[Mapping[str, Any]], "dict[str, Any] | None"]
# A run's API JSON, as a samplesheet reads it.
FastApi = Callable[[Mapping[str, Any]], bool]


def _fast_run(shape: StructureShape) -> FastRun:
    """The API JSON of a run (its fields by name; a missing one is unset) that certainly passes
    the inline setting's checker, else None.

    Same result as ``RunSetting(**values).to_api()`` when it answers (unset fields left out), but
    for the mappings, which are the run's own, not copies: a caller that keeps them copies them.
    """
    members = shape.members
    required = set(shape.required_members)
    specs = tuple(
        (field, member, compile_predicate(members[member]) if member in members else _never, member in required)
        for field, member in RunSetting.api_names()
    )

    def fast(values: Mapping[str, Any]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for name, member, ok, needed in specs:
            value = values.get(name)
            if value is None:
                if needed:
                    return None
            elif ok(value):
                out[member] = value
            else:
                return None
        return out

    return fast


def _fast_api(shape: StructureShape) -> FastApi:
    """Whether a run's API JSON (unset members left out) certainly passes the inline setting's
    checker and holds no token: ``_fast_run`` for a run read as it goes into the file, checked
    as it is, not built again."""
    predicates = {member: compile_predicate(member_shape) for member, member_shape in shape.members.items()}
    required = tuple(shape.required_members)

    def fast(api: Mapping[str, Any]) -> bool:
        for member in required:
            if member not in api:
                return False
        for member, value in api.items():
            ok = predicates.get(member)
            if ok is None or not ok(value):
                return False
        return True

    return fast


@cache
def _checkers() -> tuple[Checker, Checker, Checker, Checker, FastRun, FastApi]:
    request = service_model().operation_model("StartRunBatch").input_shape
    inline = request.members["batchRunSettings"].members["inlineSettings"].member
    return (
        _structure_checker(request.members["defaultRunSetting"], {c: s for s, c in DefaultRunSetting.api_names()}),
        _structure_checker(inline, {c: s for s, c in RunSetting.api_names()}),
        compile_shape(request.members["batchName"]),
        compile_shape(request.members["tags"]),
        _fast_run(inline),
        _fast_api(inline),
    )


class BatchValidationError(ProblemsError):
    """The batch's arguments break the construct's or the service's constraints; ``problems`` lists each one."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        super().__init__(f"OmicsRunBatch {path}", problems)


# Inline runs larger than this (as JSON) go to the settings file, whatever their number: they
# travel in CloudFormation's request (twice in an update) and in Step Functions inputs, which
# are limited to 256 KB.
MAX_INLINE_BYTES = 60_000


@dataclass
class ValidatedBatch:
    """The batch as API JSON, after validation: its runs inline, or in the settings files written
    as they were checked; and what the construct needs to know of the runs besides."""

    default: dict[str, Any]
    runs: list[dict[str, Any]]
    """The runs' API JSON, up to 100 runs; above, none: they went straight to ``files``."""
    inline: bool
    files: list[Path]
    """The settings files, one per part of 100,000 runs, in order (none when inline)."""
    count: int
    run_tags: bool
    """Whether a run sets run tags of its own."""
    output_uris: list[str]
    """Each run's ``outputUri`` once, in the order they first appear."""


def validate_batch(
    path: str,
    *,
    default_run_setting: DefaultRunSetting,
    runs: Sequence[RunSetting],
    batch_name: str | None,
    tags: Mapping[str, str] | None,
    problems: Sequence[str] = (),
) -> ValidatedBatch:
    """Check the whole batch and return its API JSON, or raise one error listing every problem.

    ``problems`` are the construct's own argument problems, reported first, in the same error.
    Above 100 runs, each run is written to its settings file as soon as it is checked, and no
    more runs than one are held at a time (a ``Samplesheet`` is read from its file); the files
    are removed again if the batch has a problem.
    """
    check_default, _, check_name, check_tags, _, _ = _checkers()
    problems = list(problems)
    default = default_run_setting.to_api() if isinstance(default_run_setting, DefaultRunSetting) else {}
    if isinstance(default_run_setting, DefaultRunSetting):
        check_default(default, "default_run_setting", problems)
        _check_uri(default.get("outputUri"), "default_run_setting.output_uri", problems)
    if default.get("workflowType") == WorkflowType.READY2RUN.value:
        problems.append(
            "default_run_setting.workflow_type: READY2RUN workflows cannot run in a batch (the HealthOmics "
            'user guide: "Batch runs are not supported with Ready2Run workflows"); use a private workflow'
        )
    if batch_name is not None:
        check_name(batch_name, "batch_name", problems)
    if tags is not None:
        check_tags(dict(tags), "tags", problems)

    total = len(runs)
    if total > contract.MAX_COHORT_RUNS:  # the runs are not read: the count alone refuses them
        problems.append(f"runs: {total:,} runs, more than the maximum {contract.MAX_COHORT_RUNS:,} of a cohort")
        raise BatchValidationError(path, problems)
    checked = _CheckedRuns(runs, problems, to_file=total > contract.MAX_INLINE_RUNS)
    api_runs: list[dict[str, Any]] = []
    files: list[Path] = []
    if total > contract.MAX_INLINE_RUNS:
        inline = False
        files = write_settings_files(checked, contract.MAX_RUNS)
        problems.extend(checked.file_problems())
    else:
        api_runs = list(checked)
        if total == 0:
            problems.append("runs: at least one run is required")
        # Up to 100 runs go inline, and only while small (a token's value is unknown: inline).
        # With other problems the size is not measured (values may not even be JSON): the error is due anyway.
        inline = bool(problems) or contains_token(api_runs) or len(dumps_runs(api_runs).encode()) <= MAX_INLINE_BYTES
        if not inline:
            problems.extend(checked.file_problems())
        if not inline and not problems:
            files = write_settings_files(api_runs, contract.MAX_RUNS)
    if problems:
        remove_settings_files(files)
        raise BatchValidationError(path, problems)
    return ValidatedBatch(
        default=default,
        runs=api_runs,
        inline=inline,
        files=files,
        count=total,
        run_tags=checked.run_tags,
        output_uris=list(checked.output_uris),
    )


class _CheckedRuns:
    """Each run's API JSON, as the runs are checked one at a time, until a problem is found (after
    which problems only are collected, in ``problems``: the error is due).

    Of the runs only each id and its index are kept (for the batch-wide rule: unique ids; not for
    a samplesheet, whose loading found them unique), and what the construct needs to know
    besides: whether a run has run tags, the output URIs.
    """

    def __init__(self, runs: Sequence[RunSetting], problems: list[str], *, to_file: bool) -> None:
        self.runs = runs
        self.problems = problems
        self.to_file = to_file  # known to go to a settings file: tokens are looked for at once
        self.run_tags = False
        self.output_uris: dict[str, None] = {}
        self._token_problems: list[str] = []
        self._slow_runs: list[tuple[int, dict[str, Any]]] = []  # what the fast path could not vouch for, kept

    def __iter__(self) -> Iterator[dict[str, Any]]:
        runs = self.runs
        if isinstance(runs, Samplesheet) and runs.setting is RunSetting:
            return self._samplesheet(runs)
        return self._runs(runs)

    def _runs(self, runs: Sequence[RunSetting]) -> Iterator[dict[str, Any]]:
        fast_run = _checkers()[4]
        problems, to_file = self.problems, self.to_file
        first_index: dict[Any, int] = {}
        for index, run in enumerate(runs):
            api = fast_run(run.__dict__) if type(run) is RunSetting else None
            if api is None:
                api = self._slow(index, run, first_index)
                if api is not None and not problems:
                    yield api
                continue
            # Valid and token-free: only the URI and the batch-wide rule (unique ids) are left to check.
            run_id = api["runSettingId"]
            if "outputUri" in api:
                self._fast_uri(index, run_id, api["outputUri"])
            first = first_index.setdefault(run_id, index)
            if first != index:
                where = f"runs[{index}] (run_setting_id {run_id!r})"
                problems.append(f"{where}: duplicate run_setting_id, first used by runs[{first}]")
            if not self.run_tags and api.get("runTags"):
                self.run_tags = True
            if not problems:
                # Kept, inline, they are copied (as to_api does); a settings file's are written at once.
                yield api if to_file else {k: dict(v) if type(v) is dict else v for k, v in api.items()}

    def _samplesheet(self, runs: Samplesheet) -> Iterator[dict[str, Any]]:
        """A samplesheet's runs, read as their API JSON and checked as they are. Its ids are not
        looked at again: loading it found them unique, and reading it refuses a file changed since.
        Only a run the fast path cannot vouch for becomes a RunSetting, so that its problems are
        worded as any run's."""
        fast_api = _checkers()[5]
        problems, to_file = self.problems, self.to_file
        for index, read in enumerate(runs.api_runs()):
            api = read if fast_api(read) else self._slow(index, RunSetting(**arguments(read)), None)
            if api is read and "outputUri" in api:
                self._fast_uri(index, api["runSettingId"], api["outputUri"])
            if api is not None and not problems:
                if not self.run_tags and "runTags" in api:
                    self.run_tags = True
                yield api if to_file else {k: dict(v) if type(v) is dict else v for k, v in api.items()}

    def _fast_uri(self, index: int, run_id: str, uri: str) -> None:
        if outcome.s3_uri_problem(uri) is not None:
            _check_uri(uri, f"runs[{index}] (run_setting_id {run_id!r}).output_uri", self.problems)
        self.output_uris[uri] = None

    def _slow(self, index: int, run: Any, first_index: dict[Any, int] | None) -> dict[str, Any] | None:
        """The full checker's pass over a run the fast path could not vouch for: its API JSON, or
        None when it is not a RunSetting. Duplicate ids are looked for in ``first_index`` if given."""
        if not isinstance(run, RunSetting):
            self.problems.append(f"runs[{index}]: expected a RunSetting, got {_short(run)}")
            return None
        check_run = _checkers()[1]
        api = run.to_api()
        run_id = run.run_setting_id
        where = f"runs[{index}] (run_setting_id {run_id!r})"
        check_run(api, where, self.problems)
        _check_uri(api.get("outputUri"), f"{where}.output_uri", self.problems)
        if first_index is not None and isinstance(run_id, str) and not is_token(run_id):
            if run_id in first_index:
                self.problems.append(f"{where}: duplicate run_setting_id, first used by runs[{first_index[run_id]}]")
            else:
                first_index[run_id] = index
        if isinstance(uri := api.get("outputUri"), str):
            self.output_uris[uri] = None
        if api.get("runTags"):
            self.run_tags = True
        if self.to_file:
            self._token_problems.extend(_token_problems(index, api))
        else:
            self._slow_runs.append((index, api))
        return api

    def file_problems(self) -> list[str]:
        """Runs written to the settings file cannot hold tokens: the file is fixed at synth.
        (The fast path saw every value of the other runs: no token there.)"""
        return self._token_problems + [
            problem for index, api in self._slow_runs for problem in _token_problems(index, api)
        ]


def _check_uri(value: Any, where: str, problems: list[str]) -> None:
    problem = s3_uri_problem(value)
    if problem is not None:
        problems.append(f"{where}: {_short(value)} {problem}")


def _file_problems(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Runs written to the settings file cannot hold tokens: the file is fixed at synth."""
    return [problem for index, run in enumerate(runs) for problem in _token_problems(index, run)]


def _token_problems(index: int, run: Mapping[str, Any]) -> list[str]:
    names = {api: field for field, api in RunSetting.api_names()}
    return [
        f"runs[{index}] (run_setting_id {run.get('runSettingId')!r}).{names.get(member, member)}: a deploy-time "
        f"value (token) cannot go into the run settings file used above {contract.MAX_INLINE_RUNS} runs"
        for member, value in run.items()
        if contains_token(value)
    ]


def contains_token(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(contains_token(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_token(v) for v in value)
    return is_token(value)
