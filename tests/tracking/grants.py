"""Every AWS call the packaged handlers make, held against the role policies the template gives them.

A ``Recorder`` keeps each call a client makes (its operation and API parameters, as botocore
validated them). ``requests`` turns a call into what IAM evaluates: the action, the resource
ARN, and the condition keys the request carries (``s3:prefix``, ``aws:RequestTag/...``,
``iam:PassedToService``), with the authorizations a call implies besides its own, as the
references document them:

- StartRunBatch is evaluated on run*, runBatch*, the workflow, the run group and the run cache,
  and again as StartRun on the same (dual authorization); tagging the batch (and its runs) is
  TagResource; the run role is passed (iam:PassRole, iam:PassedToService);
- S3's multipart calls are s3:PutObject (AbortMultipartUpload its own); ListObjectsV2 is
  s3:ListBucket with the prefix; an object in a bucket encrypted with a KMS key needs
  kms:Decrypt to read and kms:GenerateDataKey to write;
- Step Functions asks KMS as the caller for an encrypted state machine (StartExecution:
  GenerateDataKey and Decrypt; reading or stopping an execution: Decrypt), with its ARN as the
  encryption context; SendTaskSuccess is evaluated on the state machine whose task it ends.

``Policies`` reads a role's statements from the template (its own and every AWS::IAM::Policy
attached to it), resolved as CloudFormation would resolve them (``Physical``), and ``allows`` says
whether one of them allows a request: an Allow whose actions and resources match it (IAM's
``*`` and ``?`` wildcards) and whose conditions (StringEquals, StringLike) hold for its keys.
Nothing denies, and permission boundaries, SCPs and key policies are not modelled.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.tracking.harness import ACCOUNT, REGION

OMICS = f"arn:aws:omics:{REGION}:{ACCOUNT}"
NEW = "new"  # an id HealthOmics has not assigned yet


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    call: str = ""  # the call it is made for, for the failure message

    def __str__(self) -> str:
        keys = f" {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{keys} (for {self.call})"


@dataclass
class Recorder:
    """The calls of one role's clients, in order."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls.append((service, model.name, copy.deepcopy(params)))

        client.meta.events.register("provide-client-params", keep, unique_id=f"grants-{id(self)}-{id(client)}")
        return client


@dataclass(frozen=True)
class Encryption:
    """What the template encrypts with a KMS key: buckets by name, state machines by ARN."""

    buckets: Mapping[str, str] = field(default_factory=dict)
    machines: Mapping[str, str] = field(default_factory=dict)


def _s3_object(params: Mapping[str, Any]) -> str:
    return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"


def requests(
    service: str, operation: str, params: Mapping[str, Any], *, machine: str, keys: Encryption
) -> list[Request]:
    """What IAM evaluates for one call (see the module's doc)."""
    call = f"{service}:{operation}"
    found: list[Request] = []

    def add(action: str, resource: str, **context: str) -> None:
        found.append(Request(action, resource, tuple(sorted(context.items())), call))

    if service == "omics":
        if operation == "StartRunBatch":
            _start_run_batch(params, add)
        elif operation in ("ListBatch", "ListRuns"):
            add(f"omics:{operation}", "*")
        elif operation in ("GetRun", "CancelRun", "DeleteRun"):
            add(f"omics:{operation}", f"{OMICS}:run/{params['id']}")
        elif operation in ("TagResource", "UntagResource"):
            add(f"omics:{operation}", str(params["resourceArn"]))
        else:  # the batch operations
            add(f"omics:{operation}", f"{OMICS}:runBatch/{params['batchId']}")
    elif service == "s3":
        bucket_key = keys.buckets.get(str(params.get("Bucket")))
        if operation == "ListObjectsV2":
            add("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", **{"s3:prefix": str(params.get("Prefix", ""))})
        elif operation in ("GetObject", "HeadObject"):
            add("s3:GetObject", _s3_object(params))
            if bucket_key:
                add("kms:Decrypt", bucket_key)
        elif operation == "AbortMultipartUpload":
            add("s3:AbortMultipartUpload", _s3_object(params))
        elif operation == "CopyObject":  # read the source, write the copy
            add("s3:GetObject", _s3_object(params["CopySource"]))
            add("s3:PutObject", _s3_object(params))
            if bucket_key:
                add("kms:GenerateDataKey", bucket_key)
        else:  # PutObject and the multipart upload's parts
            add("s3:PutObject", _s3_object(params))
            if bucket_key:
                add("kms:GenerateDataKey", bucket_key)
                if operation != "PutObject":
                    add("kms:Decrypt", bucket_key)
    elif service == "stepfunctions":
        arn = str(params.get("stateMachineArn") or params.get("executionArn") or machine)
        state_machine = machine if operation == "SendTaskSuccess" or "executionArn" in params else arn
        add(f"states:{operation}", machine if operation == "SendTaskSuccess" else arn)
        key = keys.machines.get(state_machine)
        context = {"kms:EncryptionContext:aws:states:stateMachineArn": state_machine}
        if key and operation == "StartExecution":
            add("kms:GenerateDataKey", key, **context)
        if key and operation in ("StartExecution", "StopExecution", "DescribeExecution", "GetExecutionHistory"):
            add("kms:Decrypt", key, **context)
    elif service == "events":
        bus = str(params["Entries"][0].get("EventBusName") or "default")
        add("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}")
    elif service == "sns":
        add("sns:Publish", str(params["TopicArn"]))
    elif service == "service-quotas":
        add(f"servicequotas:{operation}", "*")
    elif service == "logs":  # GetLogEvents: the log stream
        group, stream = params["logGroupName"], params["logStreamName"]
        add(f"logs:{operation}", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{stream}")
    elif service == "pricing":
        add(f"pricing:{operation}", "*")
    else:
        raise AssertionError(f"no IAM mapping for {call}: add one")
    return found


def _start_run_batch(params: Mapping[str, Any], add: Any) -> None:
    default = params["defaultRunSetting"]
    tags = {f"aws:RequestTag/{k}": v for k, v in (params.get("tags") or {}).items()}
    owner = str(default.get("workflowOwnerId") or ACCOUNT)
    resources = [
        f"{OMICS}:run/{NEW}",
        f"{OMICS}:runBatch/{NEW}",
        f"arn:aws:omics:{REGION}:{owner}:workflow/{default['workflowId']}",
    ]
    if default.get("runGroupId"):
        resources.append(f"{OMICS}:runGroup/{default['runGroupId']}")
    if default.get("cacheId"):
        resources.append(f"{OMICS}:runCache/{default['cacheId']}")
    for resource in resources:
        add("omics:StartRunBatch", resource, **tags)
        add("omics:StartRun", resource)
    if params.get("tags"):
        add("omics:TagResource", f"{OMICS}:runBatch/{NEW}", **tags)
    if default.get("runTags"):
        add("omics:TagResource", f"{OMICS}:run/{NEW}")
    add("iam:PassRole", str(default["roleArn"]), **{"iam:PassedToService": "omics.amazonaws.com"})


# --- the template's policies ----------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class Policies:
    """The statements of the template's roles, resolved as CloudFormation would have: each reference
    to the physical name or ARN of its resource, as the deployment harness named them
    (``Physical``)."""

    template: Mapping[str, Any]
    physical: Physical

    def role_id(self, fragment: str) -> str:
        (found,) = [k for k, r in self.template["Resources"].items() if r["Type"] == "AWS::IAM::Role" and fragment in k]
        return found

    def statements(self, role_id: str) -> list[dict[str, Any]]:
        resources = self.template["Resources"]
        statements: list[dict[str, Any]] = []
        for policy in resources[role_id]["Properties"].get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
        for resource in resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get("Roles", []):
                statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
        resolved: list[dict[str, Any]] = self.physical.resolve(statements)
        return resolved

    def denied(self, role_id: str, wanted: Iterable[Request]) -> list[Request]:
        """The requests no statement of the role allows."""
        statements = self.statements(role_id)
        return [request for request in dict.fromkeys(wanted) if not any(allows(s, request) for s in statements)]


@dataclass(frozen=True)
class Physical:
    """What the template's references resolve to once deployed: the harness's names for buckets
    (their logical ids, lower case), roles and the state machine, and the batch's attributes."""

    template: Mapping[str, Any]
    machine_arn: str
    role_arns: Mapping[str, str]
    batch_id: str

    def ref(self, logical_id: str) -> str:
        kind = self.template["Resources"].get(logical_id, {}).get("Type", "")
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if kind == "AWS::StepFunctions::StateMachine":
            return self.machine_arn
        if kind == "AWS::IAM::Role":
            return logical_id
        return logical_id.lower()

    def attribute(self, logical_id: str, name: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        if kind == "AWS::S3::Bucket" and name == "Arn":
            return f"arn:aws:s3:::{self.ref(logical_id)}"
        if kind == "AWS::StepFunctions::StateMachine":
            return self.machine_arn.rsplit(":", 1)[1] if name == "Name" else self.machine_arn
        if kind == "AWS::IAM::Role" and name == "Arn":
            return self.role_arns[logical_id]
        if kind == "AWS::KMS::Key" and name == "Arn":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical_id.lower()}"
        if kind == "AWS::Lambda::Function" and name == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
        if kind == "AWS::Logs::LogGroup" and name == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*"
        if kind == "Custom::OmicsRunBatch" and name == "BatchId":
            return self.batch_id
        if kind == "AWS::Events::EventBus" or name == "Arn":
            return f"arn:aws:unmodelled:{logical_id}:{name}"
        raise AssertionError(f"no physical value for {logical_id}.{name} ({kind}): add one")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self.ref(value["Ref"])
        if "Fn::GetAtt" in value:
            return self.attribute(*value["Fn::GetAtt"])
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(str(self.resolve(p)) for p in parts)
        if "Fn::Split" in value:
            delimiter, text = value["Fn::Split"]
            return str(self.resolve(text)).split(delimiter)
        if "Fn::Select" in value:
            index, items = value["Fn::Select"]
            return self.resolve(items)[int(index)]
        return {k: self.resolve(v) for k, v in value.items()}


def allows(statement: Mapping[str, Any], request: Request) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if not any(_matches(str(action).lower(), request.action.lower()) for action in _listed(statement["Action"])):
        return False
    if not any(_matches(str(resource), request.resource) for resource in _listed(statement["Resource"])):
        return False
    context = dict(request.context)
    for operator, conditions in (statement.get("Condition") or {}).items():
        for key, expected in conditions.items():
            if key not in context:
                return False
            values = [str(v) for v in _listed(expected)]
            if operator == "StringEquals" and context[key] not in values:
                return False
            if operator == "StringLike" and not any(_matches(v, context[key]) for v in values):
                return False
            if operator not in ("StringEquals", "StringLike"):
                raise AssertionError(f"condition operator {operator} is not modelled: add it")
    return True


def _matches(pattern: str, value: str) -> bool:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def encryption(physical: Physical) -> Encryption:
    """The template's KMS-encrypted buckets and state machines, with their keys' ARNs."""
    buckets, machines = {}, {}
    for logical_id, resource in physical.template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::S3::Bucket":
            for rule in properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                key = rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
                if key:
                    buckets[physical.ref(logical_id)] = str(physical.resolve(key))
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            key = properties.get("EncryptionConfiguration", {}).get("KmsKeyId")
            if key:
                machines[physical.ref(logical_id)] = str(physical.resolve(key))
    return Encryption(buckets, machines)


def dumps(requests: Iterable[Request]) -> str:
    return json.dumps([str(r) for r in requests], indent=1)
