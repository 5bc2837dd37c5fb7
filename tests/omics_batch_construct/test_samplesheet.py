"""Run settings from files: samplesheets (CSV) and JSON, and one error listing every problem with its line."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from omics_batch_construct import DefaultRunSetting, RunSetting, Samplesheet, validation
from omics_batch_construct.samplesheet import SamplesheetError, read_csv, read_json


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def problems_of(path: Path, load: Any = RunSetting.from_csv, **kwargs: Any) -> list[str]:
    with pytest.raises(SamplesheetError) as info:
        load(path, **kwargs)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}: {len(info.value.problems)} problem")
    return info.value.problems


# --- CSV: what each column becomes ----------------------------------------------------


def test_nf_core_samplesheet_gives_one_run_per_row(tmp_path: Path) -> None:
    sheet = write(
        tmp_path,
        "samples.csv",
        "sample,fastq_1,fastq_2\n"
        "NA12878,s3://in/NA12878_R1.fq.gz,s3://in/NA12878_R2.fq.gz\n"
        "NA12879,s3://in/NA12879_R1.fq.gz,s3://in/NA12879_R2.fq.gz\n",
    )
    assert RunSetting.from_csv(sheet) == [
        RunSetting(
            run_setting_id="NA12878",
            parameters={"fastq_1": "s3://in/NA12878_R1.fq.gz", "fastq_2": "s3://in/NA12878_R2.fq.gz"},
        ),
        RunSetting(
            run_setting_id="NA12879",
            parameters={"fastq_1": "s3://in/NA12879_R1.fq.gz", "fastq_2": "s3://in/NA12879_R2.fq.gz"},
        ),
    ]
    assert [RunSetting(**arguments) for arguments in read_csv(sheet)] == RunSetting.from_csv(sheet)


def test_reserved_columns_set_fields_and_tag_columns_set_run_tags(tmp_path: Path) -> None:
    sheet = write(
        tmp_path,
        "samples.csv",
        "id,name,output_uri,priority,output_bucket_owner_id,tag:cohort,tag:site,reads\n"
        "a,run-a,s3://out/a/,7,111122223333,c7,oslo,s3://in/a.bam\n"
        "b,,,,,c7,,s3://in/b.bam\n",
    )
    assert RunSetting.from_csv(sheet, id_column="id") == [
        RunSetting(
            run_setting_id="a",
            name="run-a",
            output_uri="s3://out/a/",
            priority=7,
            output_bucket_owner_id="111122223333",
            run_tags={"cohort": "c7", "site": "oslo"},
            parameters={"reads": "s3://in/a.bam"},
        ),
        # Empty cells set nothing: no name, no priority, no empty-string tag.
        RunSetting(run_setting_id="b", run_tags={"cohort": "c7"}, parameters={"reads": "s3://in/b.bam"}),
    ]


def test_empty_cells_are_omitted_never_empty_strings(tmp_path: Path) -> None:
    sheet = write(tmp_path, "samples.csv", "sample,fastq_1,fastq_2\nsingle,s3://in/s_R1.fq.gz,\nbare,,\n")
    single, bare = RunSetting.from_csv(sheet)
    assert single.parameters == {"fastq_1": "s3://in/s_R1.fq.gz"}
    assert bare.parameters is None  # not {}: the run keeps the default run setting's parameters
    assert bare.to_api() == {"runSettingId": "bare"}


def test_a_parameter_mapping_picks_and_renames_columns(tmp_path: Path) -> None:
    sheet = write(
        tmp_path,
        "samples.csv",
        "sample,fastq_1,fastq_2,single_end,name\nNA1,r1.fq,r2.fq,false,clinic-name\n",
    )
    (run,) = RunSetting.from_csv(
        sheet, parameters={"sample": "sample_id", "fastq_1": "reads_1", "fastq_2": "reads_2", "name": "patient"}
    )
    # Unmapped columns are ignored; a mapped column is a parameter even if reserved (name),
    # and the id column can be passed on too.
    assert run == RunSetting(
        run_setting_id="NA1",
        parameters={"sample_id": "NA1", "reads_1": "r1.fq", "reads_2": "r2.fq", "patient": "clinic-name"},
    )
    (listed,) = RunSetting.from_csv(sheet, parameters=["fastq_1"])
    assert listed == RunSetting(run_setting_id="NA1", name="clinic-name", parameters={"fastq_1": "r1.fq"})


def test_parameters_as_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="parameters: expected a mapping of column to parameter name"):
        RunSetting.from_csv("unused.csv", parameters="fastq_1")


def test_quoted_cells_keep_commas_quotes_and_line_breaks(tmp_path: Path) -> None:
    sheet = write(
        tmp_path,
        "samples.csv",
        'sample,note,reads\r\n"a,1","say ""hi""","s3://in/a,b.bam"\r\nb,"two\nlines",x\r\nc,,y,extra\r\n',
    )
    problems = problems_of(sheet)
    # The quoted line break makes row c start on physical line 5.
    assert problems == [f"{sheet}:5: 4 cells, but the header has 3 columns"]
    sheet.write_text(sheet.read_text().replace(",extra", ""), encoding="utf-8")
    assert [(r.run_setting_id, r.parameters) for r in RunSetting.from_csv(sheet)] == [
        ("a,1", {"note": 'say "hi"', "reads": "s3://in/a,b.bam"}),
        ("b", {"note": "two\nlines", "reads": "x"}),
        ("c", {"reads": "y"}),
    ]


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    sheet = write(tmp_path, "excel.csv", "\ufeffsample,fastq_1\nNA1,r1.fq\n".encode())
    assert RunSetting.from_csv(sheet) == [RunSetting(run_setting_id="NA1", parameters={"fastq_1": "r1.fq"})]


def test_spaces_around_cells_blank_rows_and_empty_rows_are_ignored(tmp_path: Path) -> None:
    sheet = write(tmp_path, "samples.csv", "\n sample , fastq_1 \n\n NA1 , r1.fq \n,\n  ,  \n")
    assert RunSetting.from_csv(sheet) == [RunSetting(run_setting_id="NA1", parameters={"fastq_1": "r1.fq"})]


def test_tab_separated(tmp_path: Path) -> None:
    sheet = write(tmp_path, "samples.tsv", "sample\tfastq_1\nNA1\tr1,with,commas.fq\n")
    assert RunSetting.from_csv(sheet, delimiter="\t") == [
        RunSetting(run_setting_id="NA1", parameters={"fastq_1": "r1,with,commas.fq"})
    ]


# --- CSV: every problem, with its line ------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kwargs", "expected"),
    [
        pytest.param("sample,r1\nA,x,y\n", {}, ["2: 3 cells, but the header has 2 columns"], id="ragged-long"),
        pytest.param("sample,r1,r2\nA,x\n", {}, ["2: 2 cells, but the header has 3 columns"], id="ragged-short"),
        pytest.param("sample,r1\n,x\n", {}, ["2: empty 'sample'"], id="empty-id"),
        pytest.param("sample,r1\n  ,x\n", {}, ["2: empty 'sample'"], id="blank-id"),
        pytest.param(
            "sample,r1\nA,x\nB,y\nA,z\n", {}, ["4: duplicate 'sample' 'A', first on line 2"], id="duplicate-id"
        ),
        pytest.param(
            "id,r1\nA,x\n", {}, ["1: no 'sample' column (id_column); the header has 'id', 'r1'"], id="missing-id-column"
        ),
        pytest.param(
            "sample,r1\nA,x\n",
            {"parameters": {"r1": "reads_1", "r2": "reads_2"}},
            ["1: no 'r2' column (mapped to the parameter 'reads_2'); the header has 'sample', 'r1'"],
            id="missing-mapped-column",
        ),
        pytest.param(
            "sample,priority\nA,high\nB,1.5\nC, 3 \n",
            {},
            ["2: priority 'high' is not a whole number", "3: priority '1.5' is not a whole number"],
            id="bad-priority",
        ),
        pytest.param("", {}, ["1: empty file: no header row, no runs"], id="empty-file"),
        pytest.param("\n \n\n", {}, ["1: empty file: no header row, no runs"], id="blank-file"),
        pytest.param("sample,fastq_1,fastq_2\n", {}, ["1: only a header, no runs"], id="header-only"),
        pytest.param("\nsample,fastq_1\n\n", {}, ["2: only a header, no runs"], id="header-only-after-blank"),
        pytest.param('sample,r1\nA,"x"y\nB,z\n', {}, ["2: malformed CSV: ',' expected after '\"'"], id="bad-quoting"),
        pytest.param('sample,r1\nA,"never closed\n', {}, ["2: malformed CSV: unexpected end of data"], id="open-quote"),
        pytest.param(
            "sample,r1,r1,\nA,x,y,\n",
            {},
            ["1: column 'r1' appears twice (columns 2 and 3)", "1: column 4 has no name"],
            id="bad-header",
        ),
        pytest.param("sample,tag:\nA,x\n", {}, ["1: column 'tag:' names no tag key (write tag:KEY)"], id="tag-no-key"),
    ],
)
def test_each_malformed_samplesheet_is_reported_with_its_line(
    tmp_path: Path, content: str, kwargs: dict[str, Any], expected: list[str]
) -> None:
    sheet = write(tmp_path, "samples.csv", content)
    assert problems_of(sheet, **kwargs) == [f"{sheet}:{e}" for e in expected]


def test_not_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    sheet = write(tmp_path, "latin1.csv", "sample,r1\nA,x\nJos\xe9,y\n".encode("latin-1"))
    assert problems_of(sheet) == [f"{sheet}:3: not UTF-8 text (byte 0xe9)"]


def test_not_utf8_after_a_byte_order_mark_names_the_right_byte(tmp_path: Path) -> None:
    sheet = write(tmp_path, "bom.csv", b"\xef\xbb\xbfsample,r1\nA,x\nJos\xe9,y\n")
    assert problems_of(sheet) == [f"{sheet}:3: not UTF-8 text (byte 0xe9)"]


def test_every_problem_of_a_file_is_listed_at_once(tmp_path: Path) -> None:
    sheet = write(
        tmp_path,
        "samples.csv",
        "sample,fastq_1,priority\nA,a.fq,1\nA,b.fq,2\n,c.fq,3\nD,d.fq\nE,e.fq,soon\n",
    )
    with pytest.raises(SamplesheetError) as info:
        RunSetting.from_csv(sheet)
    assert isinstance(info.value, ValueError)
    assert info.value.problems == [
        f"{sheet}:3: duplicate 'sample' 'A', first on line 2",
        f"{sheet}:4: empty 'sample'",
        f"{sheet}:5: 2 cells, but the header has 3 columns",
        f"{sheet}:6: priority 'soon' is not a whole number",
    ]
    assert str(info.value) == f"{sheet}: 4 problems:\n" + "\n".join(f"  - {p}" for p in info.value.problems)


def test_long_problem_lists_are_cut_in_the_message_but_kept_whole(tmp_path: Path) -> None:
    sheet = write(tmp_path, "samples.csv", "sample,priority\n" + "".join(f"S{i},x\n" for i in range(60)))
    with pytest.raises(SamplesheetError) as info:
        RunSetting.from_csv(sheet)
    assert len(info.value.problems) == 60
    assert str(info.value).endswith("... and 10 more")
    assert info.value.problems[-1] == f"{sheet}:61: priority 'x' is not a whole number"


def test_a_missing_file_raises_the_usual_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        RunSetting.from_csv(tmp_path / "nope.csv")


# --- JSON: arrays and JSON Lines ------------------------------------------------------


def test_json_array_of_api_objects(tmp_path: Path) -> None:
    runs = [
        {
            "runSettingId": "NA1",
            "name": "n1",
            "outputUri": "s3://out/NA1/",
            "priority": 3,
            "parameters": {"reads": ["a.fq", "b.fq"], "threads": 8, "trim": True, "ratio": 0.5, "opt": None},
            "outputBucketOwnerId": "111122223333",
            "runTags": {"cohort": "c7"},
            "engineSettings": {"cpus": 2},
        },
        {"runSettingId": "NA2"},
    ]
    path = write(tmp_path, "runs.json", json.dumps(runs, indent=2))
    loaded = RunSetting.from_json(path)
    assert [r.to_api() for r in loaded] == runs  # typed parameters survive, null kept inside documents
    assert [RunSetting(**arguments) for arguments in read_json(path)] == loaded


def test_json_snake_case_mixed_case_and_null_as_unset(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.json",
        '[{"run_setting_id": "a", "output_uri": "s3://o/a/", "runTags": {"k": "v"}, "name": null}]',
    )
    assert RunSetting.from_json(path) == [RunSetting(run_setting_id="a", output_uri="s3://o/a/", run_tags={"k": "v"})]


def test_json_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.jsonl",
        '{"runSettingId": "a", "parameters": {"n": 1}}\r\n\n{"run_setting_id": "b", "priority": 2}\n',
    )
    assert RunSetting.from_json(path) == [
        RunSetting(run_setting_id="a", parameters={"n": 1}),
        RunSetting(run_setting_id="b", priority=2),
    ]


def test_json_with_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "runs.json", '\ufeff[{"runSettingId": "a"}]'.encode())
    assert RunSetting.from_json(path) == [RunSetting(run_setting_id="a")]


def test_bad_json_line_is_reported_with_its_line_and_the_others_still_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.jsonl",
        '{"runSettingId": "a"}\n{"runSettingId": "b",}\n\n{"runSettingId": "a"}\n{"runSettingId": 5}\n',
    )
    # The decoder's own words for line 2, which differ between Python versions.
    with pytest.raises(json.JSONDecodeError) as bad:
        json.loads('{"runSettingId": "b",}')
    assert problems_of(path, RunSetting.from_json) == [
        f"{path}:2: not valid JSON: {bad.value.msg} (column {bad.value.colno})",
        f"{path}:4: duplicate runSettingId 'a', first on line 1",
        f"{path}:5: runSettingId must be a string, got the number 5",
    ]


def test_json_array_problems_name_the_line_where_the_run_starts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.json",
        "[\n"
        '  {"runSettingId": "a"},\n'
        "  {\n"
        '    "runSettingId": "b",\n'
        '    "priority": "5",\n'
        '    "colour": "red"\n'
        "  },\n"
        '  {"parameters": ["x"], "runTags": {"k": 1}},\n'
        '  "c",\n'
        '  {"runSettingId": "", "run_setting_id": "d"}\n'
        "]\n",
    )
    assert problems_of(path, RunSetting.from_json) == [
        f"{path}:3: priority must be a whole number, got the string '5'",
        f"{path}:3: unknown key 'colour' (a run has runSettingId, name, outputUri, priority, parameters, "
        "outputBucketOwnerId, runTags, engineSettings)",
        f"{path}:8: parameters must be an object, got an array",
        f"{path}:8: runTags['k'] must be a string",
        f"{path}:8: no runSettingId",
        f"{path}:9: expected an object (a run), got the string 'c'",
        f"{path}:10: 'run_setting_id' and 'runSettingId' are the same setting; give one",
        f"{path}:10: empty runSettingId",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "1: empty file: no runs", id="empty-file"),
        pytest.param("  \n\n", "1: empty file: no runs", id="blank-file"),
        pytest.param("[]", "1: no runs", id="empty-array"),
        pytest.param('\n"runs"', "2: expected a JSON array of runs, or JSON Lines (one object per line)", id="string"),
        pytest.param(
            '[\n{"runSettingId": "a"}\n{"runSettingId": "b"}]',
            "3: not valid JSON: expected ',' or ']' after an element",
            id="missing-comma",
        ),
        pytest.param(
            '[{"runSettingId": "a"},\n]', "2: not valid JSON: Expecting value (column 1)", id="trailing-comma"
        ),
        pytest.param(
            '[{"runSettingId": "a"}]\n[]', "2: not valid JSON: more after the array's closing ']'", id="extra-data"
        ),
        pytest.param('[{"runSettingId": "a"', "1: not valid JSON: Expecting ',' delimiter (column 22)", id="cut-off"),
        pytest.param('{"runSettingId": null}', "1: runSettingId is null", id="null-id"),
    ],
)
def test_each_malformed_json_file_is_reported_with_its_line(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, "runs.json", content)
    assert problems_of(path, RunSetting.from_json) == [f"{path}:{expected}"]


def test_a_settings_file_reads_back_as_the_runs_it_was_written_from(tmp_path: Path) -> None:
    runs = [
        RunSetting(run_setting_id=f"S{i}", priority=i, parameters={"n": i, "x": [i, "y"]}, run_tags={"i": str(i)})
        for i in range(5)
    ]
    path = write(tmp_path, "settings.json", json.dumps([r.to_api() for r in runs], separators=(",", ":")))
    assert RunSetting.from_json(path) == runs


def test_the_error_is_a_value_error_with_the_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "samples.csv", "sample\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: 1 problem:\n  - {path}:1: only a header, no runs")):
        RunSetting.from_csv(path)


# --- the loaded runs: a sequence read from the file ------------------------------------


def test_loaded_runs_are_a_sequence_read_again_from_the_file(tmp_path: Path) -> None:
    sheet = write(tmp_path, "samples.csv", "sample,fastq_1\n" + "".join(f"S{i},r{i}.fq\n" for i in range(5)))
    runs = RunSetting.from_csv(sheet)
    expected = [RunSetting(run_setting_id=f"S{i}", parameters={"fastq_1": f"r{i}.fq"}) for i in range(5)]
    assert isinstance(runs, Samplesheet)
    assert len(runs) == 5
    assert list(runs) == list(runs) == expected  # each iteration reads the file again
    assert runs == expected and expected == runs and runs != expected[:4]
    assert (runs[0], runs[-1], runs[4]) == (expected[0], expected[4], expected[4])
    assert runs[1:3] == expected[1:3] and runs[::2] == expected[::2] and runs[::-1] == expected[::-1]
    assert expected[2] in runs and runs.index(expected[3]) == 3
    assert list(reversed(runs)) == expected[::-1]
    assert repr(runs) == f"Samplesheet({str(sheet)!r}, 5 runs)"
    with pytest.raises(IndexError, match="run 5 of 5"):
        runs[5]


def test_a_run_is_read_as_its_api_json_in_order(tmp_path: Path) -> None:
    """What validation checks and writes of a samplesheet's run is what RunSetting.to_api gives, key order included."""
    sheet = write(
        tmp_path,
        "samples.csv",
        "tag:site,output_bucket_owner_id,reads,priority,output_uri,name,sample\n"
        "oslo,111122223333,a.bam,3,s3://out/a/,run-a,a\n"
        ",,b.bam,,,,b\n",
    )
    lines = write(
        tmp_path,
        "runs.jsonl",
        '{"engineSettings": {"c": 1}, "runTags": {"k": "v"}, "outputBucketOwnerId": "111122223333", '
        '"parameters": {"n": 1}, "priority": 2, "output_uri": "s3://o/", "name": "x", "runSettingId": "j"}\n',
    )
    for runs in (RunSetting.from_csv(sheet), RunSetting.from_json(lines)):
        assert [list(api.items()) for api in runs.api_runs()] == [list(run.to_api().items()) for run in runs]


def test_runs_of_a_file_changed_after_loading_are_refused(tmp_path: Path) -> None:
    sheet = write(tmp_path, "samples.csv", "sample,fastq_1\nS1,r1.fq\nS2,r2.fq\n")
    runs = RunSetting.from_csv(sheet)
    write(tmp_path, "samples.csv", "sample,fastq_1\nS1,r1.fq\nS2,r2.fq\nS2,r3.fq\n")  # now with a duplicate
    with pytest.raises(SamplesheetError) as info:
        list(runs)
    assert info.value.problems == [f"{sheet}: changed since it was loaded with 2 runs; load it again"]


def test_not_utf8_json_lines_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "runs.jsonl",
        '{"runSettingId": "a"}\n{"runSettingId": 5}\n{"runSettingId": "Jos\xe9"}\n'.encode("latin-1"),
    )
    assert problems_of(path, RunSetting.from_json) == [f"{path}:3: not UTF-8 text (byte 0xe9)"]


def test_loading_keeps_ids_not_runs(tmp_path: Path) -> None:
    """Loading a 20,000-run samplesheet and checking it through to its settings file each hold a
    small part of what the runs take as RunSettings: nothing keeps them all."""
    sheet = tmp_path / "samples.csv"
    with sheet.open("w", encoding="utf-8") as f:
        f.write("sample,fastq_1,fastq_2,strandedness,priority,tag:cohort\n")
        f.writelines(
            f"NA{i:06d},s3://in/NA{i:06d}_R1.fastq.gz,s3://in/NA{i:06d}_R2.fastq.gz,auto,{i % 100},cohort-7\n"
            for i in range(20_000)
        )
    default = DefaultRunSetting(workflow_id="1234567", role_arn="arn:aws:iam::111122223333:role/omics-runs")

    def check(runs: Any) -> validation.ValidatedBatch:
        return validation.validate_batch("Test/B", default_run_setting=default, runs=runs, batch_name=None, tags=None)

    check(RunSetting.from_csv(write(tmp_path, "one.csv", "sample\nS1\n")))  # the service model, loaded once

    def peak(action: Any) -> tuple[Any, int]:
        tracemalloc.start()
        try:
            return action(), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    materialized, held = peak(lambda: list(RunSetting.from_csv(sheet)))
    del materialized
    runs, loading = peak(lambda: RunSetting.from_csv(sheet))
    validated, checking = peak(lambda: check(runs))
    assert validated.count == 20_000 and len(validated.files) == 1 and not validated.runs
    assert loading < held / 4, (loading, held)
    assert checking < held / 4, (checking, held)
