"""Run settings from files: nf-core-style samplesheets (CSV) and JSON (an array or JSON Lines).

Real cohorts come as files, not Python lists. Both readers return each run as the keyword
arguments of a ``RunSetting`` (``RunSetting.from_csv`` and ``from_json`` make the runs; this
module knows the fields from the service model, not from the class), and raise one
``SamplesheetError`` listing every problem they find, each as ``<file>:<line>: <problem>``.
They only read the file: the service's own limits (lengths, patterns, the priority range)
are checked by ``OmicsRunBatch`` at synth, like any run.

A file is read as a stream (``Source``): a check that finds every problem and counts the runs,
keeping only each id and its line (for duplicates), then one run at a time whenever the runs
are used, each as its API JSON (as it goes into the settings file), so that a cohort of a
million runs reaches its settings files without ever being in memory at once. CSV and JSON
Lines are read line by line; a JSON array is read whole, as text, on each pass (its objects
one at a time).

CSV (``RunSetting.from_csv``, read by ``read_csv``)
    One run per row, under a header row. UTF-8, with or without a byte order mark; standard
    CSV quoting (a quoted cell may hold the delimiter, ``""`` for a quote, and line breaks).

    - the id column (``id_column``, default ``sample`` as in nf-core): ``run_setting_id``;
      required in every row, unique.
    - ``name``, ``output_uri``, ``output_bucket_owner_id``: those fields.
    - ``priority``: ``priority``, a whole number.
    - ``tag:KEY``: the run tag ``KEY`` (``run_tags``), e.g. ``tag:cohort``.
    - any other column: the workflow parameter of the same name (``parameters``).

    Given ``parameters`` (a mapping of column to parameter name, or a list of column names
    kept as they are), only those columns become parameters, other unreserved columns are
    ignored, and a column listed there is a parameter even if its name is reserved above
    (the id column can be passed on this way too, e.g. ``{"sample": "sample_id"}``).

    Cells are stripped of surrounding spaces. An empty cell sets nothing: no parameter, no
    tag, no field (never an empty string); a run whose parameter cells are all empty has no
    ``parameters``. Values stay strings (CSV has no types), except ``priority``. Blank rows,
    and rows whose cells are all empty, are skipped. Per-run ``engine_settings`` have no
    column: use JSON for them.

JSON (``RunSetting.from_json``, read by ``read_json``)
    Either a JSON array of objects (the content of a settings file, or the API's
    ``inlineSettings``) or JSON Lines: one object per line, blank lines skipped. Keys are the
    API's (``runSettingId``, ``outputUri``, ``runTags`` ...) or ``RunSetting``'s field names
    (``run_setting_id``, ``output_uri`` ...), mixed freely; ``null`` means "not set". Values
    keep their JSON types, so parameters can be numbers, booleans, lists or objects.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, cast

from omics_batch_construct_runtime.omics import service_model

from ._errors import ProblemsError

__all__ = ["CsvSource", "JsonSource", "SamplesheetError", "Source", "read_csv", "read_json"]

RunArguments = dict[str, Any]  # a RunSetting's keyword arguments
RunJson = dict[str, Any]  # a run's API JSON: an entry of the settings file, members in the model's order
Runs = Generator[RunJson, None, int]  # each run's API JSON, then how many there were

StrPath = str | os.PathLike[str]

# CSV columns with a meaning of their own (column -> RunSetting field); the id column is given.
NAME_COLUMN = "name"
OUTPUT_URI_COLUMN = "output_uri"
PRIORITY_COLUMN = "priority"
OUTPUT_BUCKET_OWNER_ID_COLUMN = "output_bucket_owner_id"
TAG_COLUMN_PREFIX = "tag:"
_STRING_FIELD_COLUMNS = (NAME_COLUMN, OUTPUT_URI_COLUMN, OUTPUT_BUCKET_OWNER_ID_COLUMN)
RESERVED_COLUMNS = frozenset({*_STRING_FIELD_COLUMNS, PRIORITY_COLUMN})
# A run's members in the model's order: runSettingId, name, outputUri, priority, parameters,
# outputBucketOwnerId, runTags (engineSettings has no column). A run is read in that order.
_MEMBERS = {NAME_COLUMN: "name", OUTPUT_URI_COLUMN: "outputUri", OUTPUT_BUCKET_OWNER_ID_COLUMN: "outputBucketOwnerId"}
_HEAD_COLUMNS = (NAME_COLUMN, OUTPUT_URI_COLUMN)  # before priority
_TAIL_COLUMNS = (OUTPUT_BUCKET_OWNER_ID_COLUMN,)  # after parameters

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_BLOCK = 1 << 16  # bytes read at a time to find where a JSON file starts


class SamplesheetError(ProblemsError):
    """A run settings file could not be read; ``problems`` lists each problem as ``file:line: problem``."""

    def __init__(self, path: StrPath, problems: Sequence[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(self.path, problems)


class Source:
    """A run settings file read as a stream: each run's API JSON in turn, never all at once.

    A run is read as it goes into the settings file (``RunJson``: the API's members, in the
    model's order, unset ones left out); ``arguments`` makes it a ``RunSetting``'s keyword
    arguments. ``check`` reads the whole file once, raises one ``SamplesheetError`` listing
    every problem (duplicate ids included: it keeps each id and its line, not the runs) and
    counts the runs. Iterating reads the file again, run by run; a file that changed since
    ``check`` is refused.
    """

    def __init__(self, path: StrPath) -> None:
        self.path = path
        self.label = os.fspath(path)
        self._checked: tuple[int, tuple[int, int]] | None = None  # (runs, the file's size and mtime)

    def read(self) -> list[RunArguments]:
        """Every run's keyword arguments, in a list."""
        problems: list[str] = []
        runs = [arguments(run) for run in self._runs(problems, {})]
        if problems:
            raise SamplesheetError(self.label, problems)
        return runs

    def check(self) -> int:
        """The number of runs, once every run is read and found well formed."""
        stamp = _stamp(self.path)
        problems: list[str] = []
        count = _returned(self._runs(problems, {}, build=False))
        if problems:
            raise SamplesheetError(self.label, problems)
        self._checked = (count, stamp)
        return count

    def __iter__(self) -> Iterator[RunJson]:
        """Each run's API JSON, read again from the file (checked already: ids are not kept)."""
        if self._checked is None:
            self.check()
        assert self._checked is not None
        count, stamp = self._checked
        problems: list[str] = []
        read = None
        if _stamp(self.path) == stamp:
            read = yield from self._runs(problems, None)
        if problems or read != count or _stamp(self.path) != stamp:
            raise SamplesheetError(
                self.label, [f"{self.label}: changed since it was loaded with {count:,} runs; load it again"]
            )

    def _runs(self, problems: list[str], first_line: dict[str, int] | None, *, build: bool = True) -> Runs:
        """Each well-formed run until a problem is met, after which problems only are collected;
        duplicate ids are looked for when ``first_line`` (id -> line) is given. Returns how many
        well-formed runs there were; without ``build`` it only counts them (none is made)."""
        raise NotImplementedError


def _returned(runs: Runs) -> int:
    """What a generator of runs returns, once it has run to its end."""
    while True:
        try:
            next(runs)
        except StopIteration as end:
            return cast(int, end.value)


def arguments(run: RunJson) -> RunArguments:
    """A run's ``RunSetting`` keyword arguments, from its API JSON."""
    fields = _json_fields()[3]
    return {fields[member]: value for member, value in run.items()}


def _stamp(path: StrPath) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns


# --- CSV ------------------------------------------------------------------------------


class CsvSource(Source):
    """A samplesheet: one run per row (see the module's documentation for the columns)."""

    def __init__(
        self,
        path: StrPath,
        *,
        id_column: str = "sample",
        parameters: Mapping[str, str] | Sequence[str] | None = None,
        delimiter: str = ",",
    ) -> None:
        if isinstance(parameters, str):
            raise TypeError(
                "parameters: expected a mapping of column to parameter name or a list of columns, got a str"
            )
        super().__init__(path)
        self.id_column = id_column
        self.parameters = parameters
        self.delimiter = delimiter

    def _runs(self, problems: list[str], first_line: dict[str, int] | None, *, build: bool = True) -> Runs:
        with open(self.path, encoding="utf-8-sig", newline="") as f:
            try:
                return (
                    yield from _csv_runs(
                        f, self.label, self.id_column, self.parameters, self.delimiter, problems, first_line, build
                    )
                )
            except UnicodeDecodeError:
                problems[:] = [_utf8_problem(self.path, self.label)]
                return 0


def read_csv(
    path: StrPath,
    *,
    id_column: str = "sample",
    parameters: Mapping[str, str] | Sequence[str] | None = None,
    delimiter: str = ",",
) -> list[RunArguments]:
    """One run per row of a samplesheet (see the module's documentation for the columns).

    :param path: The CSV file.
    :param id_column: The column holding each run's ``run_setting_id``. Default: ``sample``.
    :param parameters: Which columns become workflow parameters: a mapping of column to
        parameter name, or a list of columns (same names). Default: every column that is
        not the id column, a reserved column (``name``, ``output_uri``, ``priority``,
        ``output_bucket_owner_id``) or a ``tag:`` column.
    :param delimiter: Default: a comma. ``"\\t"`` reads a TSV file.
    :raises SamplesheetError: listing every malformed row, empty id, duplicate id, missing
        column, bad priority, or an empty file, each with its line number.
    """
    return CsvSource(path, id_column=id_column, parameters=parameters, delimiter=delimiter).read()


def _csv_runs(
    lines: Iterable[str],
    label: str,
    id_column: str,
    parameters: Mapping[str, str] | Sequence[str] | None,
    delimiter: str,
    problems: list[str],
    first_line: dict[str, int] | None,
    build: bool,
) -> Runs:
    records = _csv_records(lines, label, delimiter, problems)
    header_line, header = next(((line, record) for line, record in records if "".join(record).strip()), (0, None))
    if header is None:
        if not problems:
            problems.append(f"{label}:1: empty file: no header row, no runs")
        return 0
    columns = _Columns(header, label, header_line, id_column, parameters, problems)

    # Once per row, for every run of a cohort: what the columns say is looked up once, here.
    id_index, priority_index = columns.id_index, columns.priority_index
    parameter_columns, tag_columns = columns.parameters, columns.tags
    head, tail = columns.head, columns.tail
    rows = runs = 0
    width = len(header)
    for line, record in records:
        # Cells are stripped as they are used: a row is blank when all of its cells are blank.
        run_id = record[id_index].strip() if id_index is not None and len(record) == width else None
        if not run_id and not "".join(record).strip():
            continue
        rows += 1
        if len(record) != width:
            problems.append(f"{label}:{line}: {len(record)} cells, but the header has {width} columns")
            continue
        if run_id is not None:
            if not run_id:
                problems.append(f"{label}:{line}: empty {id_column!r}")
            elif first_line is not None and (first := first_line.setdefault(run_id, line)) != line:
                problems.append(f"{label}:{line}: duplicate {id_column!r} {run_id!r}, first on line {first}")
        priority = record[priority_index].strip() if priority_index is not None else ""
        # ASCII digits, the usual priority, are a whole number without the regular expression.
        if priority and not ((priority.isascii() and priority.isdigit()) or _WHOLE_NUMBER.fullmatch(priority)):
            problems.append(f"{label}:{line}: {PRIORITY_COLUMN} {priority!r} is not a whole number")
        if not run_id or problems:  # once anything is wrong, only problems are collected
            continue
        runs += 1
        if not build:
            continue
        # The members in the model's order, as RunSetting.to_api gives them: the file's bytes follow it.
        run: RunJson = {"runSettingId": run_id}
        for i, member in head:
            if cell := record[i].strip():
                run[member] = cell
        if priority:
            run["priority"] = int(priority)
        if params := {name: cell for i, name in parameter_columns if (cell := record[i].strip())}:
            run["parameters"] = params
        for i, member in tail:
            if cell := record[i].strip():
                run[member] = cell
        if tags := {key: cell for i, key in tag_columns if (cell := record[i].strip())}:
            run["runTags"] = tags
        yield run
    if rows == 0 and not problems:
        problems.append(f"{label}:{header_line}: only a header, no runs")
    return runs


class _Columns:
    """What each column of a samplesheet's header becomes."""

    def __init__(
        self,
        header: list[str],
        label: str,
        line: int,
        id_column: str,
        parameters: Mapping[str, str] | Sequence[str] | None,
        problems: list[str],
    ) -> None:
        where = f"{label}:{line}"
        names = [name.strip() for name in header]
        index: dict[str, int] = {}
        for position, name in enumerate(names, 1):
            if not name:
                problems.append(f"{where}: column {position} has no name")
            elif name in index:
                problems.append(f"{where}: column {name!r} appears twice (columns {index[name] + 1} and {position})")
            else:
                index[name] = position - 1

        self.id_index = index.get(id_column)
        if self.id_index is None:
            problems.append(f"{where}: no {id_column!r} column (id_column); the header has {_listing(names)}")

        if parameters is None:
            wanted = {
                name: name
                for name in index
                if name != id_column and name not in RESERVED_COLUMNS and not name.startswith(TAG_COLUMN_PREFIX)
            }
        else:
            wanted = dict(parameters) if isinstance(parameters, Mapping) else {name: name for name in parameters}
            for column, parameter in wanted.items():
                if column not in index:
                    problems.append(
                        f"{where}: no {column!r} column (mapped to the parameter {parameter!r}); "
                        f"the header has {_listing(names)}"
                    )
        self.parameters = tuple((index[c], p) for c, p in wanted.items() if c in index)

        taken = set(wanted) | {id_column}
        # The string columns' members, either side of priority and parameters in the model's order.
        self.head = tuple((index[c], _MEMBERS[c]) for c in _HEAD_COLUMNS if c in index and c not in taken)
        self.tail = tuple((index[c], _MEMBERS[c]) for c in _TAIL_COLUMNS if c in index and c not in taken)
        has_priority = PRIORITY_COLUMN in index and PRIORITY_COLUMN not in taken
        self.priority_index = index[PRIORITY_COLUMN] if has_priority else None
        tags = []
        for name, i in index.items():
            if name.startswith(TAG_COLUMN_PREFIX) and name not in taken:
                key = name[len(TAG_COLUMN_PREFIX) :].strip()
                if key:
                    tags.append((i, key))
                else:
                    problems.append(f"{where}: column {name!r} names no tag key (write {TAG_COLUMN_PREFIX}KEY)")
        self.tags = tuple(tags)


def _listing(names: Sequence[str]) -> str:
    if not names:
        return "no columns"
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _csv_records(
    lines: Iterable[str], label: str, delimiter: str, problems: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record, blank or not; a malformed record becomes a problem."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    start = 1  # the line the next record starts on
    while True:
        try:
            for record in reader:
                yield start, record
                start = reader.line_num + 1
            return
        except csv.Error as error:
            problems.append(f"{label}:{start}: malformed CSV: {error}")
            if reader.line_num < start:  # nothing consumed: stop rather than loop
                return
            start = reader.line_num + 1


def _read_text(path: StrPath, label: str, problems: list[str]) -> str | None:
    """The file as text (UTF-8, a byte order mark dropped), or None with the problem recorded."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        read = error.object  # what was decoded: after the byte order mark, if any
        line = read.count(b"\n", 0, error.start) + 1
        problems.append(f"{label}:{line}: not UTF-8 text (byte {read[error.start]:#04x})")
        return None


def _utf8_problem(path: StrPath, label: str) -> str:
    """Where a file read as a stream is not UTF-8, found by reading it whole."""
    problems: list[str] = []
    _read_text(path, label, problems)
    return problems[0] if problems else f"{label}: changed while it was read; load it again"


# --- JSON -----------------------------------------------------------------------------


class JsonSource(Source):
    """A JSON array of runs, read whole as text on each pass, or JSON Lines, read line by line."""

    def _runs(self, problems: list[str], first_line: dict[str, int] | None, *, build: bool = True) -> Runs:
        label = self.label
        if _first_byte(self.path) == b"{":
            objects = _json_lines(self.path, label, problems)
        else:  # an array, or no runs at all: the whole text says which
            text = _read_text(self.path, label, problems)
            if text is None:
                return 0
            start = _JSON_SPACE.match(text).end()  # type: ignore[union-attr]
            if start == len(text):
                problems.append(f"{label}:1: empty file: no runs")
                return 0
            if text[start] != "[":
                line = text.count("\n", 0, start) + 1
                problems.append(f"{label}:{line}: expected a JSON array of runs, or JSON Lines (one object per line)")
                return 0
            objects = _json_array(text, start, label, problems)

        members = _json_fields()[4]
        runs = 0
        for line, item in objects:
            where = f"{label}:{line}"
            kwargs = _run_arguments(item, where, problems)
            if kwargs is None:
                continue
            run_id = kwargs["run_setting_id"]
            if first_line is not None and (first := first_line.setdefault(run_id, line)) != line:
                problems.append(f"{where}: duplicate runSettingId {run_id!r}, first on line {first}")
            elif not problems:
                runs += 1
                if build:
                    yield {member: kwargs[field] for field, member in members if field in kwargs}
        if not runs and not problems:
            problems.append(f"{label}:1: no runs")
        return runs


def read_json(path: StrPath) -> list[RunArguments]:
    """One run per object of a JSON array or of a JSON Lines file.

    :param path: The JSON file: an array of objects, or one object per line.
    :raises SamplesheetError: listing every line that is not JSON (JSON Lines; an array
        stops at its first syntax error), every object with an unknown key, a value of the
        wrong type or no ``runSettingId``, every duplicate ``runSettingId``, or an empty file.
    """
    return JsonSource(path).read()


def _first_byte(path: StrPath) -> bytes:
    """The file's first byte that is not JSON whitespace, after a byte order mark (b"" if none)."""
    with open(path, "rb") as f:
        block = f.read(_BLOCK)
        block = block.removeprefix(codecs.BOM_UTF8)
        while block:
            rest = block.lstrip(b" \t\n\r")
            if rest:
                return rest[:1]
            block = f.read(_BLOCK)
    return b""


def _json_array(text: str, start: int, label: str, problems: list[str]) -> Iterator[tuple[int, Any]]:
    """(line, value) of each element of the array at ``start``; parsing stops at a syntax error."""
    decoder = json.JSONDecoder()
    line, counted = 1, 0

    def line_at(position: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, position)
        counted = position
        return line

    def space(position: int) -> int:
        return _JSON_SPACE.match(text, position).end()  # type: ignore[union-attr]

    position = space(start + 1)
    if text.startswith("]", position):
        position += 1
    else:
        while True:
            element_line = line_at(position)
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError as error:
                problems.append(f"{label}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})")
                return
            yield element_line, value
            position = space(position)
            if text.startswith(",", position):
                position = space(position + 1)
            elif text.startswith("]", position):
                position += 1
                break
            else:
                problems.append(f"{label}:{line_at(position)}: not valid JSON: expected ',' or ']' after an element")
                return
    end = space(position)
    if end != len(text):
        problems.append(f"{label}:{line_at(end)}: not valid JSON: more after the array's closing ']'")


def _json_lines(path: StrPath, label: str, problems: list[str]) -> Iterator[tuple[int, Any]]:
    """(line, value) of each line that is not blank, read one line at a time."""
    with open(path, encoding="utf-8-sig", newline="\n") as f:
        try:
            for number, raw in enumerate(f, 1):
                text = raw.removesuffix("\n")
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as error:
                    problems.append(f"{label}:{number}: not valid JSON: {error.msg} (column {error.colno})")
                    continue
                yield number, value
        except UnicodeDecodeError:
            problems[:] = [_utf8_problem(path, label)]


@cache
def _json_fields() -> tuple[
    dict[str, str], dict[str, tuple[type, type | None]], str, dict[str, str], tuple[tuple[str, str], ...]
]:
    """Accepted keys (API and field names) -> field; field -> (JSON type, type of map values);
    the members' listing; member -> field; (field, member) in the model's order."""
    shape = service_model().operation_model("StartRunBatch").input_shape
    inline = shape.members["batchRunSettings"].members["inlineSettings"].member
    kinds = {"string": str, "integer": int, "long": int, "boolean": bool, "map": dict, "list": list, "structure": dict}
    keys: dict[str, str] = {}
    types: dict[str, tuple[type, type | None]] = {}
    fields = [(_snake(member), member) for member in inline.members]
    for field, member in fields:
        keys[field] = keys[member] = field
        member_shape = inline.members[member]
        value_type = kinds[member_shape.value.type_name] if member_shape.type_name == "map" else None
        types[field] = (kinds[member_shape.type_name], value_type)
    expected = ", ".join(member for _, member in fields)
    return keys, types, expected, {member: field for field, member in fields}, tuple(fields)


_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", dict: "an object", list: "an array"}


def _run_arguments(item: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    """RunSetting's keyword arguments for one JSON object, or None with its problems recorded."""
    if not isinstance(item, dict):
        problems.append(f"{where}: expected an object (a run), got {_json_kind(item)}")
        return None
    keys, types, expected, _, _ = _json_fields()
    before = len(problems)
    kwargs: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in item.items():
        field = keys.get(key)
        if field is None:
            problems.append(f"{where}: unknown key {key!r} (a run has {expected})")
            continue
        if field in given_as:
            problems.append(f"{where}: {key!r} and {given_as[field]!r} are the same setting; give one")
            continue
        given_as[field] = key
        if value is None:
            continue
        kind, value_kind = types[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{where}: {key} must be {_TYPE_NAMES[kind]}, got {_json_kind(value)}")
            continue
        if value_kind is not None:
            bad = [k for k, v in cast(dict[str, Any], value).items() if not isinstance(v, value_kind)]
            if bad:
                problems.append(f"{where}: {key}[{bad[0]!r}] must be {_TYPE_NAMES[value_kind]}")
                continue
        kwargs[field] = value
    id_key = given_as.get("run_setting_id")
    if id_key is None:
        problems.append(f"{where}: no runSettingId")
    elif item[id_key] is None:
        problems.append(f"{where}: {id_key} is null")
    elif item[id_key] == "":
        problems.append(f"{where}: empty {id_key}")
    return kwargs if len(problems) == before else None


def _snake(member: str) -> str:
    """An API member's field name (``runSettingId`` -> ``run_setting_id``), as RunSetting names it."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", member).lower()


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    return "an array" if isinstance(value, list) else "an object"
