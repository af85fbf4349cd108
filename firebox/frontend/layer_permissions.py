"""The resource policy of a layer version: AddLayerVersionPermission, RemoveLayerVersionPermission,
GetLayerVersionPolicy. Statements are kept and shown as AWS writes them; Firebox has a single account, so
they grant nothing beyond what it already has."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from firebox.errors import ResourceConflict, ResourceNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.layers import check_version_number
from firebox.frontend.names import layer_name
from firebox.store import LayerPermission, LayerVersionRecord


def _statement(permission: LayerPermission, resource: str) -> dict[str, Any]:
    principal: Any = permission.principal
    if principal.isdigit():  # an account id: AWS names the account's root
        principal = {"AWS": f"arn:aws:iam::{principal}:root"}
    elif principal != "*":
        principal = {"AWS": principal}
    statement: dict[str, Any] = {
        "Sid": permission.statement_id,
        "Effect": "Allow",
        "Principal": principal,
        "Action": permission.action,
        "Resource": resource,
    }
    if permission.organization_id is not None:
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": permission.organization_id}}
    return statement


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


class LayerPermissions:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {
            "AddLayerVersionPermission": self.add,
            "RemoveLayerVersionPermission": self.remove,
            "GetLayerVersionPolicy": self.get_policy,
        }

    def _version(self, params: Params) -> tuple[str, int]:
        """The layer name and version number the request names; ResourceNotFound for a foreign layer ARN."""
        version: int = params["VersionNumber"]
        check_version_number(version)
        name = layer_name(params["LayerName"], self._f.arns)
        if name is None:
            raise ResourceNotFound(f"Layer version {params['LayerName']}:{version} does not exist.")
        return name, version

    async def _record(self, params: Params) -> LayerVersionRecord:
        name, version = self._version(params)
        record = await self._f.layers.get(name, version)
        if record is None:
            raise ResourceNotFound(f"Layer version {self._f.arns.layer(name, version)} does not exist.")
        return record

    async def add(self, params: Params, call: Call) -> Result:
        name, version = self._version(params)
        permission = LayerPermission(
            statement_id=params["StatementId"],
            action=params["Action"],
            principal=params["Principal"],
            organization_id=params.get("OrganizationId"),
        )

        def change(record: LayerVersionRecord) -> LayerVersionRecord:
            if any(p.statement_id == permission.statement_id for p in record.permissions):
                raise ResourceConflict(
                    f"The statement id ({permission.statement_id}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement."
                )
            return msgspec.structs.replace(record, permissions=(*record.permissions, permission))

        updated = await self._f.layers.change_policy(name, version, change, params.get("RevisionId"))
        return {
            "Statement": _json(_statement(permission, self._f.arns.layer(name, version))),
            "RevisionId": updated.policy_revision_id,
        }

    async def remove(self, params: Params, call: Call) -> Result:
        name, version = self._version(params)
        statement_id = params["StatementId"]

        def change(record: LayerVersionRecord) -> LayerVersionRecord:
            kept = tuple(p for p in record.permissions if p.statement_id != statement_id)
            if len(kept) == len(record.permissions):
                raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
            return msgspec.structs.replace(record, permissions=kept)

        await self._f.layers.change_policy(name, version, change, params.get("RevisionId"))
        return {}

    async def get_policy(self, params: Params, call: Call) -> Result:
        record = await self._record(params)
        if not record.permissions:
            raise ResourceNotFound("No policy is associated with the given resource.")
        resource = self._f.arns.layer(record.name, record.version)
        policy = {
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [_statement(p, resource) for p in record.permissions],
        }
        return {"Policy": _json(policy), "RevisionId": record.policy_revision_id}
