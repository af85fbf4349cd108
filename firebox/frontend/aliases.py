"""Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import Any

import msgspec

from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import unqualified_name
from firebox.frontend.paging import page
from firebox.store import AliasRecord, new_revision_id


def _weights(params: Params) -> dict[str, float] | None:
    routing = params.get("RoutingConfig")
    if routing is None:
        return None
    return {str(k): float(v) for k, v in routing.get("AdditionalVersionWeights", {}).items()}


class Aliases:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateAlias": self.create,
            "GetAlias": self.get,
            "UpdateAlias": self.update,
            "DeleteAlias": self.delete,
            "ListAliases": self.list,
        }

    def _shape(self, alias: AliasRecord) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "AliasArn": self._f.arns.function(alias.function_name, alias.name),
            "Name": alias.name,
            "FunctionVersion": alias.function_version,
            "Description": alias.description,
            "RevisionId": alias.revision_id,
        }
        if alias.additional_weights:
            shape["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.additional_weights)}
        return shape

    async def create(self, params: Params, call: Call) -> Result:
        alias = AliasRecord(
            function_name=unqualified_name(params["FunctionName"]),
            name=params["Name"],
            function_version=params["FunctionVersion"],
            revision_id=new_revision_id(),
            description=params.get("Description", ""),
            additional_weights=_weights(params) or {},
        )
        return self._shape(await self._f.registry.create_alias(alias))

    async def get(self, params: Params, call: Call) -> Result:
        return self._shape(await self._f.registry.get_alias(unqualified_name(params["FunctionName"]), params["Name"]))

    async def update(self, params: Params, call: Call) -> Result:
        fields: dict[str, Any] = {}
        if "FunctionVersion" in params:
            fields["function_version"] = params["FunctionVersion"]
        if "Description" in params:
            fields["description"] = params["Description"]
        weights = _weights(params)
        if weights is not None:
            fields["additional_weights"] = weights

        def change(alias: AliasRecord) -> AliasRecord:
            return msgspec.structs.replace(alias, **fields)

        name = unqualified_name(params["FunctionName"])
        updated = await self._f.registry.update_alias(name, params["Name"], change, params.get("RevisionId"))
        provisioned = await self._f.registry.get_provisioned(name, updated.name)
        if provisioned is not None:  # its provisioned environments follow the alias to its version
            config = await self._f.registry.get_config(name, updated.function_version)
            self._f.assignment.provision(updated.name, config, provisioned.requested)
        return self._shape(updated)

    async def delete(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        await self._f.registry.delete_alias(name, params["Name"])
        await self._f.forget_provisioned(name, params["Name"])
        return {}

    async def list(self, params: Params, call: Call) -> Result:
        aliases = await self._f.registry.list_aliases(unqualified_name(params["FunctionName"]))
        version = params.get("FunctionVersion")
        if version is not None:
            aliases = [a for a in aliases if a.function_version == version]
        chunk, next_marker = page(aliases, params.get("Marker"), params.get("MaxItems"))
        result: Result = {"Aliases": [self._shape(a) for a in chunk]}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result
