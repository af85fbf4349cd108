"""AddPermission, RemovePermission and GetPolicy: a function's resource-based policy, per qualifier.

Each statement is stored in AWS's own shape, so GetPolicy returns what AWS would, and authorization
evaluates the same text (`firebox.frontend.policies`).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from firebox.errors import InvalidParameter, ResourceConflict, ResourceNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import split_function_name
from firebox.frontend.policies import parse_policy
from firebox.frontend.qualifiers import resolve_config
from firebox.store import PolicyStatement

_ACCOUNT = re.compile(r"^\d{12}$")


def _principal(value: str) -> Any:
    """The Principal element AWS writes for AddPermission's Principal parameter."""
    if value == "*":
        return "*"
    if _ACCOUNT.match(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if value.startswith("arn:"):
        return {"AWS": value}
    if value.endswith(".amazonaws.com") or value.endswith(".amazonaws.com.cn"):
        return {"Service": value}
    raise InvalidParameter(
        f"The provided principal was invalid. Please check the principal and try again: {value!r} is not an account"
        " id, an ARN, a service principal or *."
    )


def policy_document(statements: list[str]) -> str:
    body = ",".join(statements)
    return f'{{"Version":"2012-10-17","Id":"default","Statement":[{body}]}}'


class Permissions:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {"AddPermission": self.add, "RemovePermission": self.remove, "GetPolicy": self.get}

    async def _target(self, params: Params) -> tuple[str, str | None]:
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        await resolve_config(self._f.registry, name, qualifier)  # the version or alias must exist
        return name, qualifier

    async def add(self, params: Params, call: Call) -> Result:
        name, qualifier = await self._target(params)
        sid = params["StatementId"]
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": _principal(params["Principal"]),
            "Action": params["Action"],
            "Resource": self._f.arns.function(name, qualifier),
        }
        condition: dict[str, dict[str, str]] = {}
        if "SourceAccount" in params:
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if "PrincipalOrgID" in params:
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
        if "EventSourceToken" in params:
            condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params["EventSourceToken"]
        if "SourceArn" in params:
            condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
        if condition:
            statement["Condition"] = condition
        document = msgspec.json.encode(statement).decode()

        def added(statements: tuple[PolicyStatement, ...]) -> tuple[PolicyStatement, ...]:
            if any(s.sid == sid and s.qualifier == qualifier for s in statements):
                raise ResourceConflict(
                    f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove"
                    " the existing statement."
                )
            grown = (*statements, PolicyStatement(qualifier, sid, document))
            parse_policy(policy_document([s.document for s in grown]), resource_policy=True)  # size and shape
            return grown

        await self._f.registry.change_resource_policy(name, added, params.get("RevisionId"))
        return {"Statement": document}

    async def remove(self, params: Params, call: Call) -> Result:
        name, qualifier = await self._target(params)
        sid = params["StatementId"]

        def removed(statements: tuple[PolicyStatement, ...]) -> tuple[PolicyStatement, ...]:
            kept = tuple(s for s in statements if not (s.sid == sid and s.qualifier == qualifier))
            if len(kept) == len(statements):
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
            return kept

        await self._f.registry.change_resource_policy(name, removed, params.get("RevisionId"))
        return {}

    async def get(self, params: Params, call: Call) -> Result:
        name, qualifier = await self._target(params)
        record = await self._f.registry.resource_policy(name)
        statements = [s.document for s in record.statements if s.qualifier == qualifier] if record else []
        if record is None or not statements:
            raise ResourceNotFound("The resource you requested does not exist.")
        return {"Policy": policy_document(statements), "RevisionId": record.revision_id}
