"""Account: GetAccountSettings."""

from __future__ import annotations

from firebox.frontend.code_upload import MAX_ZIP_BYTES
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.store import MAX_UNZIPPED_BYTES

TOTAL_CODE_SIZE_LIMIT = 80_530_636_800  # AWS: 75 GB of code per region


class Account:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {"GetAccountSettings": self.settings}

    async def settings(self, params: Params, call: Call) -> Result:
        count, total = 0, 0
        marker = ""
        while True:
            configs, marker_next = await self._f.registry.list_functions(marker, 1000)
            for config in configs:
                count += 1
                total += sum(v.code.size for v in await self._f.registry.list_versions(config.name))
            if marker_next is None:
                break
            marker = marker_next
        for name in await self._f.layers.names():  # layers count towards the code an account stores, as on AWS
            total += sum(v.content.size for v in await self._f.layers.versions(name))
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE_LIMIT,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIP_BYTES,
                "ConcurrentExecutions": self._f.assignment.concurrency.account_limit,
                "UnreservedConcurrentExecutions": self._f.assignment.concurrency.unreserved,
            },
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        }
