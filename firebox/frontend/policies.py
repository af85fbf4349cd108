"""IAM policy documents: the subset Firebox evaluates, for access keys and for function resource policies.

A statement has an Effect (Allow or Deny), Action or NotAction, Resource or NotResource (with `*` and `?`
wildcards; actions compare without regard to case), and in a resource policy a Principal. An explicit Deny
wins over any Allow; with neither, the answer is no. Firebox does not evaluate conditions: a statement
with a Condition never applies (so it can grant nothing), and a key's policy may not carry one.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from firebox.errors import InvalidParameter

MAX_POLICY_BYTES = 20_480  # AWS: a function's resource policy is at most 20 KB
_REMEMBERED_DECISIONS = 4096  # per policy; past this many, it starts again empty


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny
    NONE = "none"  # nothing applies: denied, implicitly


@dataclass(frozen=True, slots=True)
class Statement:
    allow: bool
    actions: tuple[re.Pattern[str], ...]
    actions_excluded: bool  # NotAction: applies to every action but these
    resources: tuple[re.Pattern[str], ...]
    resources_excluded: bool
    principals: tuple[str, ...] | None  # resource policies: "*" or ARNs; None in a key's policy
    conditional: bool

    def applies(self, action: str, resource: str, principal_arn: str | None) -> bool:
        if self.conditional:
            return False
        if any(p.fullmatch(action) for p in self.actions) == self.actions_excluded:
            return False
        if any(p.fullmatch(resource) for p in self.resources) == self.resources_excluded:
            return False
        return self.principals is None or any(_principal_matches(p, principal_arn) for p in self.principals)


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    # Decisions made so far: a policy never changes, and each request asks one (parse_policy hands out the
    # same Policy for the same text), where matching every statement's patterns again cost more.
    _decisions: dict[tuple[str, str, str | None], Decision] = field(default_factory=dict, compare=False, repr=False)

    def decision(self, action: str, resource: str, principal_arn: str | None = None) -> Decision:
        asked = (action, resource, principal_arn)
        known = self._decisions.get(asked)
        if known is None:
            if len(self._decisions) >= _REMEMBERED_DECISIONS:
                self._decisions.clear()
            known = self._decisions[asked] = self._decide(action, resource, principal_arn)
        return known

    def _decide(self, action: str, resource: str, principal_arn: str | None) -> Decision:
        applying = [s for s in self.statements if s.applies(action, resource, principal_arn)]
        if any(not s.allow for s in applying):
            return Decision.DENY
        return Decision.ALLOW if applying else Decision.NONE


def _principal_matches(principal: str, caller_arn: str | None) -> bool:
    if caller_arn is None:
        return False
    if principal == "*" or principal == caller_arn:
        return True
    # An account (its id, or its root ARN) stands for every principal of that account.
    account = caller_arn.split(":")[4]
    return principal in (account, f"arn:aws:iam::{account}:root")


@functools.lru_cache(maxsize=1024)
def parse_policy(text: str, *, resource_policy: bool = False) -> Policy:
    """The policy `text` states; InvalidParameter (MalformedPolicyDocument) when it is not one."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise InvalidParameter(f"The policy document is larger than {MAX_POLICY_BYTES} bytes")
    try:
        document = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InvalidParameter(f"The policy document is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list | dict):
        raise InvalidParameter("A policy document is a JSON object with a Statement list")
    raw = document["Statement"]
    return Policy(tuple(_statement(s, resource_policy) for s in (raw if isinstance(raw, list) else [raw])))


def check_policy(text: str) -> None:
    """Refuse a key policy Firebox could not enforce as written."""
    if any(s.conditional for s in parse_policy(text).statements):
        raise InvalidParameter("Firebox does not evaluate Condition in an access key's policy")


def _statement(raw: Any, resource_policy: bool) -> Statement:
    if not isinstance(raw, dict):
        raise InvalidParameter("Each policy statement is a JSON object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise InvalidParameter("Each policy statement needs an Effect of Allow or Deny")
    actions, actions_excluded = _one_of(raw, "Action", "NotAction")
    resources, resources_excluded = _one_of(raw, "Resource", "NotResource")
    principals = _principals(raw.get("Principal")) if resource_policy else None
    return Statement(
        allow=effect == "Allow",
        actions=tuple(_wildcard(a, ignore_case=True) for a in actions),
        actions_excluded=actions_excluded,
        resources=tuple(_wildcard(r, ignore_case=False) for r in resources),
        resources_excluded=resources_excluded,
        principals=principals,
        conditional=bool(raw.get("Condition")),
    )


def _one_of(raw: dict[str, Any], name: str, negated: str) -> tuple[list[str], bool]:
    if (name in raw) == (negated in raw):
        raise InvalidParameter(f"Each policy statement needs exactly one of {name} and {negated}")
    values = raw[name] if name in raw else raw[negated]
    listed = values if isinstance(values, list) else [values]
    if not listed or not all(isinstance(v, str) and v for v in listed):
        raise InvalidParameter(f"{name} must be a string or a list of strings")
    return listed, negated in raw


def _principals(value: Any) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if isinstance(value, dict):
        found: list[str] = []
        for kind, names in value.items():
            for name in names if isinstance(names, list) else [names]:
                found.append(name if kind == "AWS" else f"{kind}:{name}")
        return tuple(found)
    raise InvalidParameter("A resource policy statement needs a Principal")


def _wildcard(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(pattern, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
