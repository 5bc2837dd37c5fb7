"""CDK's Provider framework, as the pinned aws-cdk-lib ships it, takes is_complete's PhysicalResourceId.

A deploy that finds its definition's batch gone moves on to a new batch from is_complete, and
names it there. The framework supports that (aws-cdk's runtime tests: "can override the
physical ID with the actual on isComplete"); this test runs the framework's own runtime code
under Node.js with its AWS calls replaced, and reads the response it would send CloudFormation.
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

from omics_common import contract
from omics_common.clients import Clients
from provider import index
from tests.standin.healthomics import HealthOmics

RUNTIME = "package/custom-resources/lib/provider-framework/runtime/"

# Loads the framework with its SDK clients stubbed out, answers the user isComplete function
# with the handler's real answer, and prints the body it would PUT to the ResponseURL.
DRIVER = r"""
const Module = require("module");
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request.startsWith("@aws-sdk/")) return new Proxy({}, { get: () => class {} });
  return load.call(this, request, ...rest);
};
const [event, answer] = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.env.USER_IS_COMPLETE_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:is-complete";
const outbound = require("./outbound");
outbound.invokeFunction = async () => ({ Payload: JSON.stringify(answer) });
outbound.httpRequest = async (options, body) => { console.log(body); };
require("./framework").isComplete(event).catch((err) => { console.error(err); process.exit(1); });
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


def test_the_framework_answers_cloudformation_with_the_batch_is_complete_names(
    client: Any, context: FakeContext, tmp_path: Path
) -> None:
    service = HealthOmics()
    with service.serving(client):
        event = make_event("Create", cfn_properties(), request_id=str(uuid.uuid4()))
        waiting = {**event, **index.on_event(event, context, clients=Clients(omics=client))}
        # This definition's first batch is gone: it reads "not found" past the grace.
        service.batches[waiting["PhysicalResourceId"]].deleted = True
        data = dict(waiting["Data"], **{contract.DATA_STARTED_AT: repr(float(waiting["Data"]["StartedAt"]) - 130)})
        waiting = {**waiting, "Data": data}
        assert not index.is_complete(waiting, context, clients=Clients(omics=client))[
            "IsComplete"
        ]  # the next one is asked for
        fresh = service.started()[-1]
        service.set_status(fresh.id, "SUBMITTING")
        answer = index.is_complete(waiting, context, clients=Clients(omics=client))
    assert answer["PhysicalResourceId"] == fresh.id != waiting["PhysicalResourceId"]

    runtime = framework_runtime(tmp_path / "runtime")
    (runtime / "driver.js").write_text(DRIVER)
    completed = subprocess.run(
        [node(), "driver.js"],
        cwd=runtime,
        input=json.dumps([waiting, answer]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    response = json.loads(completed.stdout.strip().splitlines()[-1])

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == fresh.id
    assert response["Data"][contract.ATTR_BATCH_ID] == fresh.id
    assert response["Data"][contract.ATTR_STATUS] == "SUBMITTING"
