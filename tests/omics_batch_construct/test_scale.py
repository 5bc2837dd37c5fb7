"""Runs from a samplesheet to the template or the settings file, exactly; the fast path used at scale.

Stacks are built once per module (jsii calls are slow); the property-based tests build
API JSON independently of ``RunSetting.to_api`` and compare it with what the construct
validated and wrote. Timings belong in ``benchmarks/synth_scale.py``, not here.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from unittest import mock

import aws_cdk as cdk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omics_batch_construct import (
    BatchValidationError,
    DefaultRunSetting,
    OmicsRunBatch,
    RunSetting,
    _settings_files,
    validation,
)
from omics_batch_construct_runtime import contract
from tests.omics_batch_construct.conftest import ENV, new_stack, runs

WORKFLOW = "1234567"
ROLE = "arn:aws:iam::111122223333:role/omics-runs"
# Written out by hand, not taken from settings.py: the expected JSON is built independently.
API_NAMES = {
    "run_setting_id": "runSettingId",
    "name": "name",
    "output_uri": "outputUri",
    "priority": "priority",
    "parameters": "parameters",
    "output_bucket_owner_id": "outputBucketOwnerId",
    "run_tags": "runTags",
    "engine_settings": "engineSettings",
}


def api_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {API_NAMES[name]: value for name, value in kwargs.items() if value is not None}


# --- a cohort from a samplesheet, through the construct -------------------------------


def cohort_rows(count: int) -> list[dict[str, str]]:
    """Samplesheet rows; every 7th sample is single-end (empty fastq_2), every 5th has no priority."""
    return [
        {
            "sample": f"NA{i:05d}",
            "fastq_1": f"s3://in/NA{i:05d}_R1.fq.gz",
            "fastq_2": "" if i % 7 == 0 else f"s3://in/NA{i:05d}_R2.fq.gz",
            "priority": "" if i % 5 == 0 else str(i % 100),
            "tag:cohort": "c7",
        }
        for i in range(count)
    ]


def expected_api_json(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """What the rows must become, written without the loader: empty cells leave keys out."""
    out = []
    for row in rows:
        run: dict[str, Any] = {"runSettingId": row["sample"]}
        if row["priority"]:
            run["priority"] = int(row["priority"])
        run["parameters"] = {k: row[k] for k in ("fastq_1", "fastq_2") if row[k]}
        run["runTags"] = {"cohort": row["tag:cohort"]}
        out.append(run)
    return out


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def decode_documents(run: dict[str, Any]) -> dict[str, Any]:
    """Inline runs carry documents JSON-encoded (CloudFormation would stringify their scalars)."""
    return {k: json.loads(v) if k in contract.DOCUMENT_MEMBERS else v for k, v in run.items()}


@dataclass
class Synthesized:
    batch: OmicsRunBatch
    template: dict[str, Any]
    directory: Path

    @property
    def properties(self) -> Any:
        (resource,) = [r for r in self.template["Resources"].values() if r["Type"] == "Custom::OmicsRunBatch"]
        return resource["Properties"]

    @property
    def run_settings(self) -> Any:
        return self.properties[contract.PROP_BATCH_RUN_SETTINGS]

    def staged_json_files(self) -> list[str]:
        """The .json files this stack ships as assets (its settings file, if any)."""
        stack = cdk.Stack.of(self.batch)
        manifest = json.loads((self.directory / f"{stack.artifact_id}.assets.json").read_text())
        return [
            f["source"]["path"]
            for f in manifest["files"].values()
            if f["source"]["path"].startswith("asset.") and f["source"]["path"].endswith(".json")
        ]

    def settings_file(self) -> Any:
        assert self.batch.settings_asset is not None
        return json.loads((self.directory / f"asset.{self.batch.settings_asset.asset_hash}.json").read_text())


def synth_all(batches: dict[str, list[RunSetting]]) -> dict[str, Synthesized]:
    """One stack per batch in a single app, synthesized once; templates read from cdk.out."""
    app = cdk.App()
    built = {}
    for name, run_list in batches.items():
        stack = cdk.Stack(app, name, env=ENV)
        built[name] = (stack, OmicsRunBatch(stack, "Batch", default_run_setting=_default(), runs=run_list))
    assembly = app.synth()
    return {
        name: Synthesized(
            batch,
            json.loads(Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path).read_text()),
            Path(assembly.directory),
        )
        for name, (stack, batch) in built.items()
    }


def _default() -> DefaultRunSetting:
    return DefaultRunSetting(workflow_id=WORKFLOW)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cohorts")
    rows = {count: cohort_rows(count) for count in (1, 100, 101)}
    sheets = {count: write_csv(r, folder / f"samples-{count}.csv") for count, r in rows.items()}
    typed = [
        {"runSettingId": f"J{i}", "parameters": {"lanes": [1, 2], "threads": i, "trim": i % 2 == 0, "ratio": 0.25}}
        for i in range(101)
    ]
    jsonl = folder / "runs.jsonl"
    jsonl.write_text("\n".join(json.dumps(run) for run in typed) + "\n", encoding="utf-8")
    built = synth_all(
        {
            "One": RunSetting.from_csv(sheets[1]),
            "Hundred": RunSetting.from_csv(sheets[100]),
            "HundredOne": RunSetting.from_csv(sheets[101]),
            "FromJson": RunSetting.from_json(jsonl),
        }
    )
    return {"rows": rows, "typed": typed, **built}


def test_100_runs_from_a_samplesheet_go_inline_exactly_and_no_file_is_made(cohorts: dict[str, Any]) -> None:
    inline: Synthesized = cohorts["Hundred"]
    assert list(inline.run_settings) == ["inlineSettings"]
    assert [decode_documents(r) for r in inline.run_settings["inlineSettings"]] == expected_api_json(
        cohorts["rows"][100]
    )
    assert inline.batch.settings_asset is None
    statements = [
        s
        for r in inline.template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert not [s for s in statements if s.get("Sid") == "ReadRunSettingsFile"]
    assert inline.staged_json_files() == []
    assert len(cohorts["HundredOne"].staged_json_files()) == 1


def test_101_runs_from_a_samplesheet_go_to_the_settings_file_exactly(cohorts: dict[str, Any]) -> None:
    from_file: Synthesized = cohorts["HundredOne"]
    assert list(from_file.run_settings) == ["s3UriSettings"]
    assert from_file.settings_file() == expected_api_json(cohorts["rows"][101])


def test_json_lines_in_is_the_settings_file_out(cohorts: dict[str, Any]) -> None:
    # Typed parameters (lists, numbers, booleans) reach the file as they were written.
    assert cohorts["FromJson"].settings_file() == cohorts["typed"]


def test_a_settings_file_batch_template_is_within_4_kb_of_a_1_run_batch(cohorts: dict[str, Any]) -> None:
    sizes = [len(json.dumps(cohorts[name].template, indent=1)) for name in ("One", "HundredOne")]
    assert abs(sizes[1] - sizes[0]) < 4096, sizes


def test_samplesheet_runs_are_still_validated_by_the_construct(tmp_path: Path) -> None:
    sheet = tmp_path / "samples.csv"
    sheet.write_text("sample,priority,fastq_1\nNA1,100001,r1.fq\nNA2,3,r1.fq\n", encoding="utf-8")
    with pytest.raises(
        BatchValidationError, match=re.escape("runs[0] (run_setting_id 'NA1').priority: 100001 is above")
    ):
        OmicsRunBatch(new_stack(), "B", default_run_setting=_default(), runs=RunSetting.from_csv(sheet))


def test_samplesheet_runs_above_100_are_validated_as_they_are_read(tmp_path: Path) -> None:
    rows = cohort_rows(150)
    rows[120]["priority"] = "100001"
    rows[130]["tag:cohort"] = "x" * 257
    sheet = write_csv(rows, tmp_path / "samples.csv")
    with pytest.raises(BatchValidationError) as info:
        OmicsRunBatch(new_stack(), "B", default_run_setting=_default(), runs=RunSetting.from_csv(sheet))
    assert info.value.problems == [
        "runs[120] (run_setting_id 'NA00120').priority: 100001 is above the maximum 100000",
        "runs[130] (run_setting_id 'NA00130').run_tags['cohort']: 257 characters, more than the maximum 256",
    ]


def test_a_token_inside_the_parameters_of_a_settings_file_run_is_refused() -> None:
    # The fast path never vouches for a token, so the settings file's own check still sees it.
    late = RunSetting(run_setting_id="late", parameters={"reads": f"s3://{cdk.Aws.ACCOUNT_ID}-in/r1.fq"})
    with pytest.raises(
        BatchValidationError, match=re.escape("runs[100] (run_setting_id 'late').parameters: a deploy-time value")
    ):
        OmicsRunBatch(new_stack(), "B", default_run_setting=_default(), runs=[*runs(100), late])


# --- the settings files' bytes, pinned -------------------------------------------------


def pinned_sheet(path: Path) -> Path:
    """250 runs with what a samplesheet holds: every kind of column, quoting, non-ASCII, empty cells."""
    lines = ["sample,fastq_1,fastq_2,strandedness,priority,output_uri,tag:cohort,tag:site,name,output_bucket_owner_id"]
    for i in range(250):
        fastq_2 = "" if i % 7 == 0 else f"s3://in/P{i:04d}_R2.fq.gz"
        priority = "" if i % 5 == 0 else str(i % 100)
        output = f"s3://out-bucket/site-{i % 4}/" if i % 3 == 0 else ""
        site = '"Tromsø, Norway"' if i % 2 else "Zürich"
        name = f"run-{i}" if i % 4 else ""
        owner = "111122223333" if i % 6 == 0 else ""
        lines.append(
            f"P{i:04d},s3://in/P{i:04d}_R1.fq.gz,{fastq_2},{('auto', 'forward')[i % 2]},{priority},{output},c7,{site},"
            f"{name},{owner}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pinned_lines(path: Path) -> Path:
    """150 runs of JSON Lines with typed parameters (numbers large and fractional, lists, null, non-ASCII)."""
    runs = [
        {
            "runSettingId": f"J{i:03d}",
            "name": f"run-{i}",
            "parameters": {"n": i, "big": 2**53 + i, "ratio": i / 8, "lanes": [1, i], "opt": None, "note": "ü✓"},
            "engineSettings": {"cpus": i % 4 + 1},
        }
        for i in range(150)
    ]
    path.write_text("\n".join(json.dumps(run) for run in runs) + "\n", encoding="utf-8")
    return path


# The settings files' asset hashes for the inputs above, in parts of 100 runs: a change here is a
# change of every deployed cohort's settings file (and a new batch for each), so it must be deliberate.
PINNED_ASSET_HASHES = {
    "Csv": [
        "12851ed97da8ed09d34c2148784d132d412c185a72f42cc292272103680271dc",
        "1a2eed3615ecdc7eaf19ac4ed2436a0a9d06f08237bd7970afd38d27ee0deb56",
        "03f65974f145f22e22a74774be91ffa138998eef3d107e77d14c3a802ee195db",
    ],
    "JsonLines": [
        "29d06be67d5ecd49eb2262b3a8398a54b8cb6dcbc9f8dbd9fa7d15ecc2de397d",
        "a52aa6f5346650e9282d2aa7d9a84323596bad3bbda1c86fd9683949420218f5",
    ],
    "Big": ["e92a71d9c3fe0f79c9af2e8bf74c67c4b7231d75782b364a13db5a095d30cb04"],
}


def test_settings_files_keep_their_bytes_for_the_same_runs(tmp_path: Path) -> None:
    big = [RunSetting(run_setting_id=f"B{i:02d}", parameters={"pad": "x" * 700, "i": i}) for i in range(100)]
    with mock.patch.object(contract, "MAX_RUNS", 100):
        built = synth_all(
            {
                "Csv": RunSetting.from_csv(pinned_sheet(tmp_path / "pinned.csv")),
                "JsonLines": RunSetting.from_json(pinned_lines(tmp_path / "pinned.jsonl")),
                "Big": big,  # 100 runs, too large to go inline
            }
        )
    hashes = {name: [asset.asset_hash for asset in b.batch.settings_assets] for name, b in built.items()}
    assert hashes == PINNED_ASSET_HASHES


# --- property: valid runs give exactly the API's JSON ----------------------------------

# The model's "printable text" (letters, marks, numbers, punctuation, symbols, spaces).
PRINTABLE = st.characters(categories=("L", "M", "N", "P", "S", "Zs"))


def no_token(text: str) -> bool:
    return "{Token[" not in text


def printable(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(PRINTABLE, min_size=min_size, max_size=max_size).filter(no_token)


# S3 bucket names: 3 to 63 lowercase letters, digits and hyphens, a letter or digit at each end.
BUCKET_NAMES = st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True)
# Keys without brackets: a URI's prefix becomes a granted resource whose cdk-nag finding is acknowledged
# by an id that CDK's Validations parses, and an unbalanced ')', ']' or '}' there fails the synth.
KEY_TEXT = st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="()[]{}"))


def s3_uris(max_size: int) -> st.SearchStrategy[str]:
    """``s3://bucket/key`` within ``max_size`` characters."""
    return st.builds(lambda bucket, key: f"s3://{bucket}/{key}"[:max_size], BUCKET_NAMES, KEY_TEXT.filter(no_token))


def json_values(*, inline_safe: bool) -> st.SearchStrategy[Any]:
    """JSON values for documents. Integers stay within +-2**53 (I-JSON).

    ``inline_safe`` leaves out keys starting with "$jsii", which the jsii bridge would take
    for one of its own references if a dict reached it as an object.
    """
    scalars: list[st.SearchStrategy[Any]] = [
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12).filter(no_token),
        st.none(),
    ]
    return st.recursive(
        st.one_of(scalars),
        lambda children: st.lists(children, max_size=3) | document_of(children, inline_safe=inline_safe, max_size=3),
        max_leaves=8,
    )


def document_of(values: st.SearchStrategy[Any], *, inline_safe: bool, max_size: int = 4) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=10).filter(no_token)
    if inline_safe:
        keys = keys.filter(lambda key: not key.startswith("$jsii"))
    return st.dictionaries(keys, values, max_size=max_size)


def valid_runs(*, inline_safe: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of RunSetting keyword arguments within the model's constraints, with unique ids."""
    document = document_of(json_values(inline_safe=inline_safe), inline_safe=inline_safe)
    run = st.fixed_dictionaries(
        {"run_setting_id": printable(1, 128)},
        optional={
            "name": printable(1, 128),
            "output_uri": s3_uris(750),
            "priority": st.integers(0, 100_000),
            "parameters": document,
            "output_bucket_owner_id": st.from_regex(r"[0-9]{12}", fullmatch=True),
            "run_tags": st.dictionaries(
                st.text(min_size=1, max_size=128).filter(no_token), st.text(max_size=256).filter(no_token), max_size=5
            ),
            "engine_settings": document,
        },
    )
    return st.lists(run, min_size=1, max_size=8, unique_by=lambda r: r["run_setting_id"])


def validate(run_list: list[Any]) -> validation.ValidatedBatch:
    return validation.validate_batch(
        "Test/B",
        default_run_setting=DefaultRunSetting(workflow_id=WORKFLOW, role_arn=ROLE),
        runs=run_list,
        batch_name=None,
        tags=None,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_runs(inline_safe=False))
def test_valid_runs_validate_and_dump_to_exactly_the_api_json(run_kwargs: list[dict[str, Any]]) -> None:
    expected = [api_json(kwargs) for kwargs in run_kwargs]
    run_list = [RunSetting(**kwargs) for kwargs in run_kwargs]
    validated = validate(run_list).runs
    assert list(validated) == expected
    text = _settings_files.dumps_runs(validated)
    assert json.loads(text) == expected
    # And the file reads back as the same runs.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_text(text, encoding="utf-8")
        assert RunSetting.from_json(path) == run_list


FILLER = [RunSetting(run_setting_id=f"~filler-{i:03d}") for i in range(101)]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_runs(inline_safe=True).filter(lambda runs: not any(r["run_setting_id"].startswith("~filler-") for r in runs))
)
def test_valid_runs_reach_the_template_and_the_settings_file_as_the_api_json(run_kwargs: list[dict[str, Any]]) -> None:
    expected = [api_json(kwargs) for kwargs in run_kwargs]
    run_list = [RunSetting(**kwargs) for kwargs in run_kwargs]
    padding = FILLER[: 101 - len(run_list)]
    built = synth_all({"Inline": run_list, "File": run_list + padding})
    inline = [decode_documents(r) for r in built["Inline"].run_settings["inlineSettings"]]
    assert as_doubles(inline) == as_doubles(expected)
    assert built["File"].settings_file() == expected + [{"runSettingId": r.run_setting_id} for r in padding]


def as_doubles(value: Any) -> Any:
    """Numbers as a JSON reader with doubles sees them (JavaScript writes 6.7e16 as 67000000000000000)."""
    if isinstance(value, dict):
        return {k: as_doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_doubles(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param({"unset_me": None}, id="null"),
        pytest.param({"big": 2**53 + 1}, id="big-integer"),
        pytest.param({"ratio": 1.0}, id="float"),
        pytest.param({"__proto__": "x"}, id="proto-key"),
    ],
)
def test_inline_documents_keep_what_the_settings_file_keeps(parameters: dict[str, Any]) -> None:
    built = synth_all({"Inline": [RunSetting(run_setting_id="a", parameters=parameters)]})
    (inline,) = built["Inline"].run_settings["inlineSettings"]
    assert inline["parameters"] == _settings_files.dumps_runs([parameters])[1:-1]  # as the file would have it


# --- property: the fast path agrees with the full checker ------------------------------


class Label(StrEnum):
    SAMPLE = "sample"


TOKENS = st.sampled_from(["${Token[TOKEN.1]}", "s3://${Token[AWS.AccountId.2]}/out/", "#{Token[LIST.3]}"])
ANY_TEXT = st.one_of(
    st.text(max_size=6),
    st.text(PRINTABLE, min_size=126, max_size=130),
    st.text(min_size=1, max_size=4, alphabet=st.characters(categories=("Cc", "Cf", "Zl", "Co"))),
    TOKENS,
    st.just(Label.SAMPLE),
)
ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN, infinities and huge (token-sized) values included
    ANY_TEXT,
    st.just(object()),
    st.just(("tuple", 1)),
)
ODD_DOCUMENTS = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), st.recursive(ODD_SCALARS, st.lists, max_leaves=4)),
    st.lists(st.integers(), max_size=2),
    ANY_TEXT,
)
ODD_RUN = st.fixed_dictionaries(
    {
        "run_setting_id": st.one_of(ANY_TEXT, st.sampled_from(["dup", "S1"]), st.none(), st.integers()),
        "name": st.one_of(st.none(), ANY_TEXT, st.integers()),
        "output_uri": st.one_of(st.none(), ANY_TEXT),
        "priority": st.one_of(st.none(), st.integers(-2, 100_002), st.sampled_from([True, 5.0, "5", 1e300])),
        "parameters": ODD_DOCUMENTS,
        "output_bucket_owner_id": st.one_of(st.none(), st.from_regex(r"[0-9]{11,13}", fullmatch=True), ANY_TEXT),
        "run_tags": st.one_of(
            st.none(),
            st.dictionaries(ANY_TEXT, st.one_of(ANY_TEXT, st.integers()), max_size=3),
            st.dictionaries(st.text(min_size=1, max_size=3), st.text(max_size=3), min_size=1, max_size=2),
        ),
        "engine_settings": ODD_DOCUMENTS,
    }
)


def outcome(run_list: list[Any]) -> tuple[str, Any]:
    try:
        return "valid", list(validate(run_list).runs)
    except BatchValidationError as error:
        return "invalid", error.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ODD_RUN.map(lambda kwargs: RunSetting(**kwargs)) | st.just("not a run"), min_size=1, max_size=5))
def test_the_fast_path_gives_the_full_checkers_result(run_list: list[Any]) -> None:
    with_fast = outcome(run_list)
    checkers = validation._checkers()
    without = (*checkers[:4], lambda run: None, lambda api: False)
    with mock.patch.object(validation, "_checkers", return_value=without):
        without_fast = outcome(run_list)
    assert with_fast == without_fast
    check_run, fast_run, fast_api = checkers[1], checkers[4], checkers[5]
    if with_fast[0] == "valid" and all(type(r) is RunSetting and fast_run(r.__dict__) is not None for r in run_list):
        # What the fast path vouched for (it skips the settings file's token check) passes that check.
        assert validation._file_problems(validate(run_list).runs) == []
    for run in run_list:
        # A samplesheet's runs are vouched for as their API JSON: only what the full checker passes.
        if type(run) is RunSetting and fast_api(api := run.to_api()):
            found: list[str] = []
            check_run(api, "run", found)
            assert found == [] and not validation.contains_token(api), found
