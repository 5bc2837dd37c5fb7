"""Acknowledgments of cdk-nag findings that the construct is the right place to answer.

Each acknowledgment names one rule (or one finding of a rule, such as one wildcard
resource of an IAM policy) on one resource, with the reason a security reviewer needs.
Nothing here acknowledges a rule for a whole stack, and nothing acknowledges what a
user adds to the roles later: wildcard findings are computed from the statements the
construct itself wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Annotations, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

PACKS = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5")
HIPAA_AND_NIST = ("HIPAA.Security", "NIST.800.53.R5")

WHY_OWN_POLICY = (
    "An AWS::IAM::Policy attached to exactly one role this construct creates, its statements scoped "
    "per resource; as a separate resource CloudFormation orders it before the resources that use it."
)
WHY_NO_RESERVED_CONCURRENCY = (
    "Reserved concurrency would be taken from the account's unreserved pool and fails the deploy in "
    "accounts at the minimum of 10; these functions run a few times per deploy or per batch-day."
)
WHY_NO_VPC = (
    "No vpc was given: the function calls only AWS APIs over TLS with IAM auth and holds no data. "
    "Pass vpc= to place it in a VPC."
)
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"


def acknowledge(resource: IConstruct, rule: str, reason: str, *, packs: Iterable[str] = PACKS) -> None:
    """Acknowledge ``rule`` (e.g. "LambdaDLQ") of each pack that has it, on this one resource."""
    Validations.of(resource).acknowledge(
        *(Acknowledgment(id=f"{pack}::{pack}-{rule}", reason=reason) for pack in packs)
    )


def acknowledge_finding(resource: IConstruct, rule: str, finding: str, reason: str) -> None:
    """Acknowledge one finding of an AwsSolutions rule, e.g. IAM5[Resource::arn:...:run/*].

    A finding whose text CDK cannot take as a rule id (an S3 key may hold a lone ``]``) is left
    for the user to review, with a synth warning that says so, rather than failing the synth."""
    rule_id = f"AwsSolutions::AwsSolutions-{rule}[{finding}]"
    if not valid_rule_id(rule_id):
        Annotations.of(resource).add_warning_v2(
            "omics-batch-construct:UnacknowledgedFinding",
            f"AwsSolutions-{rule} finding {finding!r} is not acknowledged: CDK's rule ids take no unbalanced "
            f"bracket. It stands for this reason: {reason}",
        )
        return
    Validations.of(resource).acknowledge(Acknowledgment(id=rule_id, reason=reason))


_CLOSING = {"]": "[", ")": "(", "}": "{"}


def valid_rule_id(rule_id: str) -> bool:
    """Whether CDK parses ``rule_id`` (its rule for acknowledgment ids: every closing bracket
    matches the last open one; one ``::`` outside brackets)."""
    stack: list[str] = []
    separators, i = 0, 0
    while i < len(rule_id):
        c = rule_id[i]
        if c == ":" and rule_id[i + 1 : i + 2] == ":" and not stack:
            separators, i = separators + 1, i + 1
        elif c in _CLOSING:
            if not stack or stack.pop() != _CLOSING[c]:
                return False
        elif c in "[({":
            stack.append(c)
        i += 1
    return separators <= 1


def flatten_cfn_reference(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in a finding (``<Ref>``, ``<Id.Attr>``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def add_statement(target: iam.IRole | iam.Policy, statement: iam.PolicyStatement, reason: str | None = None) -> None:
    """Add ``statement`` to a policy (or a role's default policy); acknowledge its wildcard
    resources with ``reason``.

    A statement with a wildcard resource must come with the reason the API leaves no
    narrower choice; one without needs none.
    """
    if isinstance(target, iam.Policy):
        target.add_statements(statement)
    else:
        target.add_to_principal_policy(statement)
    stack = Stack.of(target)
    wildcards = [
        flatten_cfn_reference(stack.resolve(resource))
        for resource in statement.resources
        if "*" in flatten_cfn_reference(stack.resolve(resource))
    ]
    if not wildcards:
        return
    if reason is None:
        raise ValueError(f"statement {statement.sid or statement.actions} has wildcard resources {wildcards}")
    policy = target if isinstance(target, iam.Policy) else target.node.try_find_child("DefaultPolicy")
    assert policy is not None, "a role this construct writes to has a default policy"
    for finding in wildcards:
        acknowledge_finding(policy, "IAM5", f"Resource::{finding}", reason)


def acknowledge_cdk_grants(policy: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge the wildcard resources of statements CDK itself wrote into ``policy``.

    ``reasons`` maps an action prefix (``"lambda:InvokeFunction"``, ``"xray:"``) to why;
    a statement counts only if every one of its actions has that prefix, so nothing else
    in the policy is covered.
    """
    cfn_policy = policy.node.default_child
    assert isinstance(cfn_policy, iam.CfnPolicy)
    stack = Stack.of(policy)
    document = stack.resolve(cfn_policy.policy_document)
    for statement in document.get("Statement", []):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for prefix, reason in reasons.items():
            if all(action.startswith(prefix) for action in actions):
                for resource in map(flatten_cfn_reference, resources):
                    if "*" in resource:
                        acknowledge_finding(policy, "IAM5", f"Resource::{resource}", reason)


def acknowledge_own_policy(owner: IConstruct, reason: str = WHY_OWN_POLICY) -> None:
    """IAMNoInlinePolicy on a policy made here, or on the default policy of a role made here."""
    policy = owner if isinstance(owner, iam.Policy) else owner.node.find_child("DefaultPolicy")
    acknowledge(policy, "IAMNoInlinePolicy", reason, packs=HIPAA_AND_NIST)


def acknowledge_function(function: IConstruct, *, why_no_dlq: str, in_vpc: bool) -> None:
    """What a function of this construct answers for: concurrency, dead-letter queue, VPC."""
    resource = function.node.default_child
    assert resource is not None
    acknowledge(resource, "LambdaConcurrency", WHY_NO_RESERVED_CONCURRENCY, packs=HIPAA_AND_NIST)
    acknowledge(resource, "LambdaDLQ", why_no_dlq, packs=HIPAA_AND_NIST)
    if not in_vpc:
        acknowledge(resource, "LambdaInsideVPC", WHY_NO_VPC, packs=HIPAA_AND_NIST)


def acknowledge_vpc_access_policy(role: IConstruct) -> None:
    """IAM4 for the AWS managed policy Lambda attaches to a function's role in a VPC."""
    acknowledge_finding(
        role,
        "IAM4",
        f"Policy::arn:<AWS::Partition>:iam::aws:policy/{VPC_ACCESS_POLICY}",
        "Lambda's own policy for the network interfaces a function in a VPC needs.",
    )
