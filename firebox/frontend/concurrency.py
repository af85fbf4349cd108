"""Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency."""

from __future__ import annotations

import asyncio

from firebox.assignment import MIN_UNRESERVED
from firebox.errors import InvalidParameter
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import unqualified_name


class FunctionConcurrency:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend
        # One change of reservations at a time: each is checked against the sum of all the others.
        self._changing = asyncio.Lock()

    def operations(self) -> dict[str, Operation]:
        return {
            "PutFunctionConcurrency": self.put,
            "GetFunctionConcurrency": self.get,
            "DeleteFunctionConcurrency": self.delete,
        }

    async def put(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        reserved: int = params["ReservedConcurrentExecutions"]
        concurrency = self._f.assignment.concurrency
        async with self._changing:
            await self._f.registry.get_function(name)  # ResourceNotFound before any arithmetic
            if concurrency.leaves_too_little(name, reserved):
                raise InvalidParameter(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
                )
            await self._f.registry.set_reserved_concurrency(name, reserved)
            concurrency.reserve(name, reserved)
        return {"ReservedConcurrentExecutions": reserved}

    async def get(self, params: Params, call: Call) -> Result:
        record = await self._f.registry.get_function(unqualified_name(params["FunctionName"]))
        if record.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": record.reserved_concurrency}

    async def delete(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        async with self._changing:
            await self._f.registry.set_reserved_concurrency(name, None)
            self._f.assignment.concurrency.reserve(name, None)
        return {}
