"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfig(s)."""

from __future__ import annotations

import asyncio

from firebox.assignment import MIN_UNRESERVED, ProvisionedStatus
from firebox.errors import InvalidParameter, ProvisionedConfigNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import unqualified_name
from firebox.frontend.paging import page
from firebox.frontend.qualifiers import resolve
from firebox.store import LATEST, FunctionConfig, ProvisionedRecord, now_last_modified


class ProvisionedConcurrency:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend
        self._changing = asyncio.Lock()  # each change is checked against the sum of all the others

    def operations(self) -> dict[str, Operation]:
        return {
            "PutProvisionedConcurrencyConfig": self.put,
            "GetProvisionedConcurrencyConfig": self.get,
            "DeleteProvisionedConcurrencyConfig": self.delete,
            "ListProvisionedConcurrencyConfigs": self.list,
        }

    async def _target(self, name: str, qualifier: str) -> FunctionConfig:
        """The version `qualifier` (a version number or an alias) runs."""
        if qualifier == LATEST:
            raise InvalidParameter(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        version, alias = await resolve(self._f.registry, name, qualifier)
        if alias is not None and alias.additional_weights:
            raise InvalidParameter("Alias with weights can not be used with Provisioned Concurrency")
        return await self._f.registry.get_config(name, version)

    async def _check_room(self, name: str, qualifier: str, requested: int) -> None:
        others = [
            r for r in await self._f.registry.list_provisioned() if (r.function_name, r.qualifier) != (name, qualifier)
        ]
        concurrency = self._f.assignment.concurrency
        reserved = concurrency.reserved(name)
        own = requested + sum(r.requested for r in others if r.function_name == name)
        if reserved is not None and own > reserved:
            raise InvalidParameter(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                f"for function ({reserved})."
            )
        if reserved is None:
            unreserved_use = requested + sum(
                r.requested for r in others if concurrency.reserved(r.function_name) is None
            )
            if concurrency.unreserved - unreserved_use < MIN_UNRESERVED:
                raise InvalidParameter(
                    "Requested Provisioned Concurrency would leave the account's UnreservedConcurrentExecution "
                    f"below its minimum value of [{MIN_UNRESERVED}]."
                )

    async def put(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        qualifier: str = params["Qualifier"]
        requested: int = params["ProvisionedConcurrentExecutions"]
        async with self._changing:
            config = await self._target(name, qualifier)
            await self._check_room(name, qualifier, requested)
            record = ProvisionedRecord(name, qualifier, requested, now_last_modified())
            await self._f.registry.put_provisioned(record)
            self._f.assignment.provision(qualifier, config, requested)
        return self._shape(record)

    async def _record(self, params: Params) -> ProvisionedRecord:
        name = unqualified_name(params["FunctionName"])
        record = await self._f.registry.get_provisioned(name, params["Qualifier"])
        if record is None:
            raise ProvisionedConfigNotFound("No Provisioned Concurrency Config found for this function")
        return record

    async def get(self, params: Params, call: Call) -> Result:
        return self._shape(await self._record(params))

    async def delete(self, params: Params, call: Call) -> Result:
        async with self._changing:
            record = await self._record(params)
            await self._f.registry.delete_provisioned(record.function_name, record.qualifier)
            self._f.assignment.unprovision(record.function_name, record.qualifier)
        return {}

    async def list(self, params: Params, call: Call) -> Result:
        records = await self._f.registry.list_provisioned(unqualified_name(params["FunctionName"]))
        chunk, next_marker = page(records, params.get("Marker"), params.get("MaxItems"))
        result: Result = {
            "ProvisionedConcurrencyConfigs": [
                {"FunctionArn": self._f.arns.function(r.function_name, r.qualifier), **self._shape(r)} for r in chunk
            ]
        }
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result

    def _shape(self, record: ProvisionedRecord) -> Result:
        status = self._f.assignment.provisioned_status(record.function_name, record.qualifier)
        if status is None:  # stored, but not (yet) provisioned by this server
            status = ProvisionedStatus(record.requested, 0, 0, "IN_PROGRESS")
        shape: Result = {
            "RequestedProvisionedConcurrentExecutions": record.requested,
            "AvailableProvisionedConcurrentExecutions": status.available,
            "AllocatedProvisionedConcurrentExecutions": status.allocated,
            "Status": status.status,
            "LastModified": record.last_modified,
        }
        if status.reason is not None:
            shape["StatusReason"] = status.reason
        return shape
