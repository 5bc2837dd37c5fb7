"""The custom resource's properties, turned back into StartRunBatch's parameters.

CloudFormation hands every scalar over as a string ("5", "true"), and the construct
JSON-encodes the free-form document members (``contract.DOCUMENT_MEMBERS``) so that the
numbers and booleans inside them survive. The types to restore come from botocore's
service model, walked shape by shape, so a field the service adds later is converted
without a change here. Keys the model does not know pass through unchanged: botocore's
parameter validation then rejects them with a message naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.errors import OmicsClient, PropertyError, shorten

START_RUN_BATCH = "StartRunBatch"

# Each batch-describing property and the StartRunBatch member it becomes.
API_MEMBERS: Mapping[str, str] = {
    contract.PROP_BATCH_NAME: "batchName",
    contract.PROP_DEFAULT_RUN_SETTING: "defaultRunSetting",
    contract.PROP_BATCH_RUN_SETTINGS: "batchRunSettings",
    contract.PROP_TAGS: "tags",
}
REQUIRED_PROPERTIES = (contract.PROP_DEFAULT_RUN_SETTING, contract.PROP_BATCH_RUN_SETTINGS)

_INTEGER_TYPES = frozenset({"integer", "long"})
_FLOAT_TYPES = frozenset({"float", "double"})


@dataclass(frozen=True)
class BatchProperties:
    """The validated, API-typed properties of one batch resource."""

    default_run_setting: dict[str, Any]
    batch_run_settings: dict[str, Any]
    batch_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    on_delete: str = contract.ON_DELETE_RETAIN
    timeout_seconds: int = contract.MAX_DEPLOY_WAIT_SECONDS

    def start_run_batch_params(self, request_id: str) -> dict[str, Any]:
        """StartRunBatch's parameters; optional members are left out when empty."""
        params: dict[str, Any] = {
            "requestId": request_id,
            "defaultRunSetting": self.default_run_setting,
            "batchRunSettings": self.batch_run_settings,
        }
        if self.batch_name:
            params["batchName"] = self.batch_name
        if self.tags:
            params["tags"] = self.tags
        return params


def start_run_batch_input(client: OmicsClient) -> StructureShape:
    """The model's StartRunBatch input shape: the source of every type converted here."""
    shape: StructureShape = client.meta.service_model.operation_model(START_RUN_BATCH).input_shape
    return shape


def parse_properties(raw: Mapping[str, Any], input_shape: StructureShape) -> BatchProperties:
    """Validate the properties of a Create or Update and convert them to API types."""
    check_schema_version(raw)
    on_delete = on_delete_policy(raw)
    missing = [name for name in REQUIRED_PROPERTIES if not raw.get(name)]
    if missing:
        raise PropertyError(f"Missing required properties: {', '.join(missing)}")
    api = api_values(raw, input_shape)
    return BatchProperties(
        default_run_setting=api[contract.PROP_DEFAULT_RUN_SETTING],
        batch_run_settings=api[contract.PROP_BATCH_RUN_SETTINGS],
        batch_name=api.get(contract.PROP_BATCH_NAME) or None,
        tags=dict(api.get(contract.PROP_TAGS) or {}),
        on_delete=on_delete,
        timeout_seconds=timeout_seconds(raw),
    )


def timeout_seconds(raw: Mapping[str, Any]) -> int:
    """How long the deploy may wait for validation; an hour (the framework's limit) if unsaid."""
    value = raw.get(contract.PROP_TIMEOUT_SECONDS)
    if value is None:
        return contract.MAX_DEPLOY_WAIT_SECONDS
    try:
        return min(int(value), contract.MAX_DEPLOY_WAIT_SECONDS)
    except (TypeError, ValueError) as err:
        raise PropertyError(
            f"{contract.PROP_TIMEOUT_SECONDS}: expected a whole number of seconds, got {value!r}"
        ) from err


def run_count(raw: Mapping[str, Any]) -> int:
    """How many runs the cohort has (every part): the property the construct writes, else the
    inline runs (0 when unknown)."""
    value = raw.get(contract.PROP_RUN_COUNT)
    if value is not None:
        try:
            return int(value)
        except (TypeError, ValueError) as err:
            raise PropertyError(f"{contract.PROP_RUN_COUNT}: expected a whole number, got {value!r}") from err
    settings = raw.get(contract.PROP_BATCH_RUN_SETTINGS) or {}
    inline = settings.get("inlineSettings") if isinstance(settings, Mapping) else None
    return len(inline) if isinstance(inline, list) else 0


def check_schema_version(raw: Mapping[str, Any]) -> None:
    """Refuse properties written by a construct release this handler does not know."""
    version = raw.get(contract.PROP_SCHEMA_VERSION)
    if version not in contract.SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(sorted(contract.SUPPORTED_SCHEMA_VERSIONS))
        raise PropertyError(
            f"{contract.PROP_SCHEMA_VERSION} {version!r} is not supported by this handler "
            f"(supported: {supported}); deploy the construct and its handler from one release"
        )


def on_delete_policy(raw: Mapping[str, Any]) -> str:
    """What Delete does to the batch; RETAIN unless the properties say otherwise."""
    value = raw.get(contract.PROP_ON_DELETE) or contract.ON_DELETE_RETAIN
    if value not in contract.ON_DELETE_VALUES:
        raise PropertyError(f"{contract.PROP_ON_DELETE} {value!r} is not one of {', '.join(contract.ON_DELETE_VALUES)}")
    return str(value)


def api_values(raw: Mapping[str, Any], input_shape: StructureShape) -> dict[str, Any]:
    """Every batch-describing property present in ``raw``, converted to its API type."""
    return {
        name: to_api(raw[name], input_shape.members[member], name)
        for name, member in API_MEMBERS.items()
        if name in raw
    }


def changed_definition(old: Mapping[str, Any], new: Mapping[str, Any], input_shape: StructureShape) -> list[str]:
    """The batch-defining properties that differ between ``old`` and ``new``, sorted.

    Compared after conversion, so a different spelling of the same value ("5" and 5,
    or reformatted JSON in ``parameters``) never starts a new batch.
    """
    before, after = _definition(old, input_shape), _definition(new, input_shape)
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def _definition(raw: Mapping[str, Any], input_shape: StructureShape) -> dict[str, Any]:
    """The properties whose change means a new batch, in API types."""
    defining = {name: value for name, value in raw.items() if name not in contract.NON_DEFINING_PROPERTIES}
    defining.update(api_values(defining, input_shape))
    if not defining.get(contract.PROP_BATCH_NAME):
        defining.pop(contract.PROP_BATCH_NAME, None)  # "" and absent both mean "no name"
    return defining


def to_api(value: Any, shape: Shape, path: str) -> Any:
    """``value`` converted to the type ``shape`` describes; unknown parts unchanged."""
    if isinstance(shape, StructureShape):
        return _structure(value, shape, path)
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return value
        return [to_api(item, shape.member, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, Mapping):
            return value
        return {key: to_api(item, shape.value, f"{path}.{key}") for key, item in value.items()}
    if not isinstance(value, str):
        return value
    return _scalar(value, shape.type_name, path)


def _structure(value: Any, shape: StructureShape, path: str) -> Any:
    """A structure's members converted; document members decoded from their JSON."""
    if not isinstance(value, Mapping):
        return value
    members = shape.members
    converted: dict[str, Any] = {}
    for key, item in value.items():
        member = members.get(key)
        if member is None:
            converted[key] = item
        elif key in contract.DOCUMENT_MEMBERS and is_document(member):
            converted[key] = _document(item, f"{path}.{key}")
        else:
            converted[key] = to_api(item, member, f"{path}.{key}")
    return converted


def is_document(shape: Shape) -> bool:
    """Whether ``shape`` is a free-form JSON document (no members to convert by)."""
    return bool(getattr(shape, "is_document_type", False))


def _document(value: Any, path: str) -> Any:
    """A document member: JSON text from the construct, decoded with its types intact."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise PropertyError(f"{path} is not valid JSON: {err.msg} at {err.pos}") from err


def _scalar(value: str, type_name: str, path: str) -> Any:
    """A string from CloudFormation converted to an integer, boolean or float."""
    try:
        if type_name in _INTEGER_TYPES:
            return int(value)
        if type_name in _FLOAT_TYPES:
            return float(value)
    except ValueError as err:
        raise _bad_value(path, "an integer" if type_name in _INTEGER_TYPES else "a number", value) from err
    if type_name == "boolean":
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise _bad_value(path, "true or false", value)
        return lowered == "true"
    return value


def _bad_value(path: str, expected: str, value: str) -> PropertyError:
    return PropertyError(f"{path}: expected {expected}, got {shorten(repr(value), 40)}")
