"""Run settings from files: nf-core-style samplesheets (CSV) and JSON (an array or JSON Lines).

Real cohorts come as files, not Python lists. Both readers return each run as the keyword
arguments of a ``RunSetting`` (``RunSetting.from_csv`` and ``from_json`` make the runs; this
module knows the fields from the service model, not from the class), and raise one
``SamplesheetError`` listing every problem they find, each as ``<file>:<line>: <problem>``.
They only read the file: the service's own limits (lengths, patterns, the priority range)
are checked by ``OmicsRunBatch`` at synth, like any run.

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

import csv
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, cast

from omics_batch_construct_runtime.omics import service_model

from ._errors import ProblemsError

__all__ = ["SamplesheetError", "read_csv", "read_json"]

RunArguments = dict[str, Any]  # a RunSetting's keyword arguments

StrPath = str | os.PathLike[str]

# CSV columns with a meaning of their own (column -> RunSetting field); the id column is given.
NAME_COLUMN = "name"
OUTPUT_URI_COLUMN = "output_uri"
PRIORITY_COLUMN = "priority"
OUTPUT_BUCKET_OWNER_ID_COLUMN = "output_bucket_owner_id"
TAG_COLUMN_PREFIX = "tag:"
_STRING_FIELD_COLUMNS = (NAME_COLUMN, OUTPUT_URI_COLUMN, OUTPUT_BUCKET_OWNER_ID_COLUMN)
RESERVED_COLUMNS = frozenset({*_STRING_FIELD_COLUMNS, PRIORITY_COLUMN})

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


class SamplesheetError(ProblemsError):
    """A run settings file could not be read; ``problems`` lists each problem as ``file:line: problem``."""

    def __init__(self, path: StrPath, problems: Sequence[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(self.path, problems)


# --- CSV ------------------------------------------------------------------------------


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
    if isinstance(parameters, str):
        raise TypeError("parameters: expected a mapping of column to parameter name or a list of columns, got a str")
    label = os.fspath(path)
    problems: list[str] = []
    text = _read_text(path, label, problems)
    records = _csv_records(text, label, delimiter, problems) if text is not None else iter(())

    header_line, header = next(records, (0, None))
    if header is None:
        if not problems:
            problems.append(f"{label}:1: empty file: no header row, no runs")
        raise SamplesheetError(label, problems)
    columns = _Columns(header, label, header_line, id_column, parameters, problems)

    runs: list[RunArguments] = []
    first_line: dict[str, int] = {}
    rows = 0
    width = len(header)
    for line, record in records:
        rows += 1
        where = f"{label}:{line}"
        if len(record) != width:
            problems.append(f"{where}: {len(record)} cells, but the header has {width} columns")
            continue
        cells = [cell.strip() for cell in record]
        run_id = cells[columns.id_index] if columns.id_index is not None else None
        if run_id is not None:
            if not run_id:
                problems.append(f"{where}: empty {id_column!r}")
            elif (first := first_line.setdefault(run_id, line)) != line:
                problems.append(f"{where}: duplicate {id_column!r} {run_id!r}, first on line {first}")
        fields: dict[str, Any] = {field: cells[i] for i, field in columns.string_fields if cells[i]}
        if columns.priority_index is not None and (priority := cells[columns.priority_index]):
            if _WHOLE_NUMBER.fullmatch(priority):
                fields["priority"] = int(priority)
            else:
                problems.append(f"{where}: {PRIORITY_COLUMN} {priority!r} is not a whole number")
        params = {name: cells[i] for i, name in columns.parameters if cells[i]}
        tags = {key: cells[i] for i, key in columns.tags if cells[i]}
        if run_id and not problems:  # once anything is wrong, only problems are collected
            runs.append({"run_setting_id": run_id, "parameters": params or None, "run_tags": tags or None, **fields})
    if rows == 0 and not problems:
        problems.append(f"{label}:{header_line}: only a header, no runs")
    if problems:
        raise SamplesheetError(label, problems)
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
        self.string_fields = tuple((index[c], c) for c in _STRING_FIELD_COLUMNS if c in index and c not in taken)
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


def _csv_records(text: str, label: str, delimiter: str, problems: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record that has a non-empty cell; a malformed record becomes a problem."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problems.append(f"{label}:{start}: malformed CSV: {error}")
            if reader.line_num < start:  # nothing consumed: stop rather than loop
                return
            continue
        if "".join(record).strip():  # some cell is not blank
            yield start, record


def _read_text(path: StrPath, label: str, problems: list[str]) -> str | None:
    """The file as text (UTF-8, a byte order mark dropped), or None with the problem recorded."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.append(f"{label}:{line}: not UTF-8 text (byte {data[error.start]:#04x})")
        return None


# --- JSON -----------------------------------------------------------------------------


def read_json(path: StrPath) -> list[RunArguments]:
    """One run per object of a JSON array or of a JSON Lines file.

    :param path: The JSON file: an array of objects, or one object per line.
    :raises SamplesheetError: listing every line that is not JSON (JSON Lines; an array
        stops at its first syntax error), every object with an unknown key, a value of the
        wrong type or no ``runSettingId``, every duplicate ``runSettingId``, or an empty file.
    """
    label = os.fspath(path)
    problems: list[str] = []
    text = _read_text(path, label, problems)
    if text is None:
        raise SamplesheetError(label, problems)
    start = _JSON_SPACE.match(text).end()  # type: ignore[union-attr]
    if start == len(text):
        raise SamplesheetError(label, [f"{label}:1: empty file: no runs"])
    if text[start] == "[":
        objects = _json_array(text, start, label, problems)
    elif text[start] == "{":
        objects = _json_lines(text, label, problems)
    else:
        line = text.count("\n", 0, start) + 1
        raise SamplesheetError(
            label, [f"{label}:{line}: expected a JSON array of runs, or JSON Lines (one object per line)"]
        )

    runs: list[RunArguments] = []
    first_line: dict[str, int] = {}
    for line, item in objects:
        where = f"{label}:{line}"
        kwargs = _run_arguments(item, where, problems)
        if kwargs is None:
            continue
        run_id = kwargs["run_setting_id"]
        if (first := first_line.setdefault(run_id, line)) != line:
            problems.append(f"{where}: duplicate runSettingId {run_id!r}, first on line {first}")
        elif not problems:
            runs.append(kwargs)
    if not runs and not problems:
        problems.append(f"{label}:1: no runs")
    if problems:
        raise SamplesheetError(label, problems)
    return runs


def _json_array(text: str, start: int, label: str, problems: list[str]) -> list[tuple[int, Any]]:
    """(line, value) of each element of the array at ``start``; parsing stops at a syntax error."""
    decoder = json.JSONDecoder()
    items: list[tuple[int, Any]] = []
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
                return items
            items.append((element_line, value))
            position = space(position)
            if text.startswith(",", position):
                position = space(position + 1)
            elif text.startswith("]", position):
                position += 1
                break
            else:
                problems.append(f"{label}:{line_at(position)}: not valid JSON: expected ',' or ']' after an element")
                return items
    end = space(position)
    if end != len(text):
        problems.append(f"{label}:{line_at(end)}: not valid JSON: more after the array's closing ']'")
    return items


def _json_lines(text: str, label: str, problems: list[str]) -> list[tuple[int, Any]]:
    items: list[tuple[int, Any]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            items.append((number, json.loads(raw)))
        except json.JSONDecodeError as error:
            problems.append(f"{label}:{number}: not valid JSON: {error.msg} (column {error.colno})")
    return items


@cache
def _json_fields() -> tuple[dict[str, str], dict[str, tuple[type, type | None]], str]:
    """Accepted keys (API and field names) -> field; field -> (JSON type, type of map values)."""
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
    return keys, types, expected


_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", dict: "an object", list: "an array"}


def _run_arguments(item: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    """RunSetting's keyword arguments for one JSON object, or None with its problems recorded."""
    if not isinstance(item, dict):
        problems.append(f"{where}: expected an object (a run), got {_json_kind(item)}")
        return None
    keys, types, expected = _json_fields()
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
