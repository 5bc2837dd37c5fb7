"""The construct's settings, enums and shipped model keep up with botocore's omics model."""

from __future__ import annotations

import dataclasses
import gzip
import json
from enum import Enum
from pathlib import Path

import botocore
import pytest

import omics_batch_construct as lib
from omics_batch_construct.run_settings import DefaultRunSetting, RunSetting
from omics_batch_construct_runtime.omics import MODEL_FILE, service_model

REQUEST = service_model().operation_model("StartRunBatch").input_shape
DEFAULT_SHAPE = REQUEST.members["defaultRunSetting"]
INLINE_SHAPE = REQUEST.members["batchRunSettings"].members["inlineSettings"].member


def test_shipped_model_is_the_pinned_botocore_model() -> None:
    installed = Path(botocore.__file__).parent / "data" / "omics" / "2022-11-28"
    shipped = MODEL_FILE.parent
    for name in ("service-2.json", "paginators-1.json", "endpoint-rule-set-1.json"):
        assert _load(shipped, name) == _load(installed, name), f"{name}: run scripts/vendor_model.py"


def _load(folder: Path, name: str) -> object:
    plain, packed = folder / name, folder / f"{name}.gz"
    return json.loads(plain.read_text() if plain.exists() else gzip.decompress(packed.read_bytes()))


def test_default_run_setting_has_every_member_of_the_api() -> None:
    assert sorted(api for _, api in DefaultRunSetting.api_names()) == sorted(DEFAULT_SHAPE.members)
    assert len(DEFAULT_SHAPE.members) >= 23


def test_run_setting_has_every_member_of_an_inline_setting() -> None:
    assert sorted(api for _, api in RunSetting.api_names()) == sorted(INLINE_SHAPE.members)


def test_run_setting_fields_are_in_the_model_order() -> None:
    # A samplesheet's runs are read in the model's order, a RunSetting's written in its fields':
    # the same runs must give the same settings file, byte for byte.
    assert [api for _, api in RunSetting.api_names()] == list(INLINE_SHAPE.members)


def test_required_members_are_the_only_fields_without_default() -> None:
    for cls, shape in ((DefaultRunSetting, DEFAULT_SHAPE), (RunSetting, INLINE_SHAPE)):
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        api = dict(cls.api_names())
        # role_arn is required by the API but the construct fills it in.
        assert {api[name] for name in required} == set(shape.required_members) - {"roleArn"}


@pytest.mark.parametrize(
    "enum",
    [
        lib.WorkflowType,
        lib.CacheBehavior,
        lib.RunLogLevel,
        lib.RunRetentionMode,
        lib.StorageType,
        lib.NetworkingMode,
        lib.ScratchStorageMode,
    ],
)
def test_enums_match_the_model(enum: type[Enum]) -> None:
    shape = service_model().shape_for(enum.__name__)
    assert [m.value for m in enum] == shape.enum


def test_every_enum_member_of_a_setting_has_a_typed_enum() -> None:
    typed = {cls.__name__ for cls in vars(lib).values() if isinstance(cls, type) and issubclass(cls, Enum)}
    for shape in (DEFAULT_SHAPE, INLINE_SHAPE):
        for member in shape.members.values():
            if member.metadata.get("enum"):
                assert member.name in typed, member.name


def test_every_public_name_is_exported() -> None:
    public = {name for name, value in vars(lib).items() if isinstance(value, type) and not name.startswith("_")}
    assert sorted(lib.__all__) == sorted(public)
    for name in lib.__all__:
        assert getattr(lib, name).__name__ == name
