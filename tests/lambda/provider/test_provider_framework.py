"""CDK's Provider framework, as the pinned aws-cdk-lib ships it, carries what the handlers rely on.

- on_event's Data reaches is_complete, for a Delete too: a delete measures its hour from the
  ``StartedAt`` on_event hands on (the framework merges on_event's answer into the waiter's input);
- the response CloudFormation gets names the batch and its attributes as is_complete gave them.

These tests run the framework's own runtime code under Node.js with its AWS calls replaced, and
read what it would hand the waiter and PUT to the ResponseURL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from provider_testkit import FakeContext, cfn_properties, make_event

from omics_batch_construct_runtime import contract
from omics_batch_construct_runtime.clients import Clients
from provider import index
from tests.standin.healthomics import HealthOmics

RUNTIME = "package/custom-resources/lib/provider-framework/runtime/"

# Loads the framework with its SDK clients stubbed out, answers the user function with the
# handler's real answer, and prints what the framework then does: the waiter's input (onEvent) or
# the body it would PUT to the ResponseURL (isComplete).
DRIVER = r"""
const Module = require("module");
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request.startsWith("@aws-sdk/")) return new Proxy({}, { get: () => class {} });
  return load.call(this, request, ...rest);
};
const [entry, event, answer] = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.env.USER_ON_EVENT_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:on-event";
process.env.USER_IS_COMPLETE_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:is-complete";
process.env.WAITER_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:waiter";
const outbound = require("./outbound");
outbound.invokeFunction = async () => ({ Payload: JSON.stringify(answer) });
outbound.startExecution = async (request) => { console.log(request.input); };
outbound.httpRequest = async (options, body) => { console.log(body); };
require("./framework")[entry](event).catch((err) => { console.error(err); process.exit(1); });
"""


def node() -> str:
    """The Node.js that runs jsii for the tests (make exports JSII_NODE), else one on PATH."""
    found = os.environ.get("JSII_NODE") or shutil.which("node")
    if not found:
        pytest.fail("no Node.js: run `make test`, which installs one and exports JSII_NODE")
    return found


def framework_runtime(target: Path) -> Path:
    """The framework's runtime files, from the pinned aws-cdk-lib (found without importing it)."""
    spec = importlib.util.find_spec("aws_cdk")
    assert spec is not None and spec.submodule_search_locations
    (tarball,) = Path(next(iter(spec.submodule_search_locations)), "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.name.startswith(RUNTIME) and member.name.endswith(".js"):
                member.name = member.name[len(RUNTIME) :]
                archive.extract(member, target, filter="data")
    return target


def run_framework(tmp_path: Path, entry: str, event: dict[str, Any], answer: Any) -> dict[str, Any]:
    """What the framework's ``entry`` (onEvent, isComplete) does with the handler's ``answer``."""
    runtime = tmp_path / "runtime"
    if not runtime.is_dir():
        framework_runtime(runtime)
        (runtime / "driver.js").write_text(DRIVER)
    completed = subprocess.run(
        [node(), "driver.js"],
        cwd=runtime,
        input=json.dumps([entry, event, answer]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    parsed: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return parsed


def test_the_framework_hands_on_events_data_to_is_complete_and_its_answer_to_cloudformation(
    client: Any, quotas_api: Any, quotas: Any, context: FakeContext, tmp_path: Path
) -> None:
    service = HealthOmics()
    with service.serving(client):
        event = make_event("Create", cfn_properties(), request_id=str(uuid.uuid4()))
        quotas = Clients(omics=client, servicequotas=quotas_api)
        started = index.on_event(event, context, clients=quotas)
        waiting = run_framework(tmp_path, "onEvent", event, started)
        service.set_status(started["PhysicalResourceId"], "SUBMITTING")
        answer = index.is_complete(waiting, context, clients=Clients(omics=client))
        removal = make_event("Delete", cfn_properties(), physical_id=started["PhysicalResourceId"])
        deleting = run_framework(tmp_path, "onEvent", removal, index.on_event(removal, context, quotas))

    assert waiting["Data"] == started["Data"]  # is_complete reads StartedAt from it
    assert deleting["Data"][contract.DATA_STARTED_AT]  # a delete's hour too
    response = run_framework(tmp_path, "isComplete", waiting, answer)
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == started["PhysicalResourceId"]
    assert response["Data"][contract.ATTR_BATCH_ID] == started["PhysicalResourceId"]
    assert response["Data"][contract.ATTR_STATUS] == "SUBMITTING"
