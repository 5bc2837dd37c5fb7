"""CloudFormation strings back to the API's types, driven by botocore's model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from provider_testkit import api_batch_run_settings, api_default_run_setting, cfn_properties

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.errors import PropertyError
from provider.properties import (
    changed_definition,
    is_document,
    parse_properties,
    start_run_batch_input,
)


@pytest.fixture
def shape(client: Any) -> StructureShape:
    return start_run_batch_input(client)


def test_scalars_and_documents_get_the_api_types(shape: StructureShape) -> None:
    props = parse_properties(cfn_properties(), shape)

    assert props.default_run_setting == api_default_run_setting()
    assert props.batch_run_settings == api_batch_run_settings()
    setting = props.default_run_setting
    # == would let 5 == 5.0 and 1 == True pass: check the types themselves.
    assert type(setting["priority"]) is int
    assert type(setting["storageCapacity"]) is int
    assert setting["requesterPaysEnabled"] is True
    assert type(setting["parameters"]["threads"]) is int
    assert type(setting["parameters"]["ratio"]) is float
    assert setting["parameters"]["qc"] is True
    assert type(props.batch_run_settings["inlineSettings"][0]["priority"]) is int
    assert props.batch_name == "cohort-a"
    assert props.tags == {"team": "genomics"}
    assert props.on_delete == contract.ON_DELETE_RETAIN


def test_document_strings_stay_strings_inside_documents(shape: StructureShape) -> None:
    """Only the document itself is decoded: a "5" inside it was a string to the user."""
    raw = cfn_properties()
    raw["DefaultRunSetting"]["parameters"] = json.dumps({"label": "5", "flag": "true"})

    props = parse_properties(raw, shape)

    assert props.default_run_setting["parameters"] == {"label": "5", "flag": "true"}


def test_engine_settings_are_decoded(shape: StructureShape) -> None:
    raw = cfn_properties()
    raw["DefaultRunSetting"]["engineSettings"] = json.dumps({"nextflow": {"resume": False}})

    props = parse_properties(raw, shape)

    assert props.default_run_setting["engineSettings"] == {"nextflow": {"resume": False}}


def test_s3_uri_settings_pass_through(shape: StructureShape) -> None:
    raw = cfn_properties(BatchRunSettings={"s3UriSettings": "s3://settings/runs.json"})

    assert parse_properties(raw, shape).batch_run_settings == {"s3UriSettings": "s3://settings/runs.json"}


def test_unknown_keys_pass_through_unchanged(shape: StructureShape) -> None:
    raw = cfn_properties()
    raw["DefaultRunSetting"]["futureKnob"] = "7"

    assert parse_properties(raw, shape).default_run_setting["futureKnob"] == "7"


def test_optional_properties_default(shape: StructureShape) -> None:
    raw = cfn_properties()
    for name in ("BatchName", "Tags", "OnDelete"):
        del raw[name]

    props = parse_properties(raw, shape)

    assert (props.batch_name, props.tags, props.on_delete) == (None, {}, contract.ON_DELETE_RETAIN)
    assert "batchName" not in props.start_run_batch_params("t")
    assert "tags" not in props.start_run_batch_params("t")


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("priority", "high", r"DefaultRunSetting\.priority: expected an integer, got 'high'"),
        ("requesterPaysEnabled", "yes", r"DefaultRunSetting\.requesterPaysEnabled: expected true or false"),
        ("parameters", "{not json", r"DefaultRunSetting\.parameters is not valid JSON"),
    ],
)
def test_bad_values_name_their_place(shape: StructureShape, member: str, value: str, message: str) -> None:
    raw = cfn_properties()
    raw["DefaultRunSetting"][member] = value

    with pytest.raises(PropertyError, match=message):
        parse_properties(raw, shape)


def test_bad_value_in_a_run_names_the_run_index(shape: StructureShape) -> None:
    raw = cfn_properties()
    raw["BatchRunSettings"]["inlineSettings"][1]["priority"] = "1.5"

    with pytest.raises(PropertyError, match=r"BatchRunSettings\.inlineSettings\[1\]\.priority"):
        parse_properties(raw, shape)


@pytest.mark.parametrize("version", ["2", "", None])
def test_unsupported_schema_version_is_refused(shape: StructureShape, version: str | None) -> None:
    raw = cfn_properties(SchemaVersion=version)

    with pytest.raises(PropertyError, match=r"SchemaVersion .* is not supported by this handler \(supported: 1\)"):
        parse_properties(raw, shape)


def test_unknown_on_delete_is_refused(shape: StructureShape) -> None:
    with pytest.raises(PropertyError, match=r"OnDelete 'DESTROY' is not one of RETAIN, CANCEL_RUNS"):
        parse_properties(cfn_properties(OnDelete="DESTROY"), shape)


def test_missing_run_settings_are_refused(shape: StructureShape) -> None:
    raw = cfn_properties()
    del raw["BatchRunSettings"]

    with pytest.raises(PropertyError, match="Missing required properties: BatchRunSettings"):
        parse_properties(raw, shape)


# --- what counts as a change of the batch -----------------------------------------------


def test_non_defining_properties_never_count(shape: StructureShape) -> None:
    old = cfn_properties()
    new = cfn_properties(ServiceToken="arn:other", Tags={"team": "x"}, OnDelete="CANCEL_RUNS")

    assert changed_definition(old, new, shape) == []


def test_same_values_spelled_differently_are_no_change(shape: StructureShape) -> None:
    old = cfn_properties()
    new = cfn_properties()
    params = json.loads(new["DefaultRunSetting"]["parameters"])
    new["DefaultRunSetting"]["parameters"] = json.dumps(dict(reversed(params.items())), indent=2)
    new["DefaultRunSetting"]["priority"] = "05"

    assert changed_definition(old, new, shape) == []


def test_defining_changes_are_listed(shape: StructureShape) -> None:
    old = cfn_properties()
    new = cfn_properties(BatchName="cohort-b")
    new["BatchRunSettings"]["inlineSettings"].pop()

    assert changed_definition(old, new, shape) == ["BatchName", "BatchRunSettings"]


# --- the contract keeps up with the model ------------------------------------------------


def _run_setting_shapes(shape: StructureShape) -> list[StructureShape]:
    """The model's DefaultRunSetting and InlineSetting shapes."""
    inline = shape.members["batchRunSettings"].members["inlineSettings"]
    assert isinstance(inline, ListShape)
    return [shape.members["defaultRunSetting"], inline.member]


def test_every_document_member_of_a_run_setting_is_in_the_contract(shape: StructureShape) -> None:
    documents = {
        name
        for setting in _run_setting_shapes(shape)
        for name, member in setting.members.items()
        if is_document(member)
    }

    assert documents, "the model has no document members: has the shape changed?"
    assert documents <= contract.DOCUMENT_MEMBERS, "add the new document members to contract.DOCUMENT_MEMBERS"
    assert contract.DOCUMENT_MEMBERS <= documents, "contract.DOCUMENT_MEMBERS names a member that is no document"


def test_run_setting_members_are_types_the_converter_knows(shape: StructureShape) -> None:
    """A new scalar type (say timestamp) would reach the API as a string: notice it here."""
    handled = {"string", "integer", "long", "float", "double", "boolean", "structure", "list", "map"}

    def types(member: Shape) -> set[str]:
        if isinstance(member, StructureShape):
            if is_document(member):
                return set()
            return {member.type_name}.union(*(types(m) for m in member.members.values()))
        if isinstance(member, ListShape):
            return {"list"} | types(member.member)
        if isinstance(member, MapShape):
            return {"map"} | types(member.value)
        return {member.type_name}

    found = set().union(*(types(setting) for setting in _run_setting_shapes(shape)))
    assert found <= handled
