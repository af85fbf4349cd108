"""A function's code signing configuration: PutFunctionCodeSigningConfig, GetFunctionCodeSigningConfig,
DeleteFunctionCodeSigningConfig (CreateFunction's CodeSigningConfigArn sets it too).

It belongs to the function, not to a version or an alias. Setting it checks nothing at once: the function's
next deployments are checked (`code_verification.py`), as on AWS.
"""

from __future__ import annotations

from firebox.errors import CodeSigningConfigNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import unqualified_name


class FunctionCodeSigning:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {
            "PutFunctionCodeSigningConfig": self.put,
            "GetFunctionCodeSigningConfig": self.get,
            "DeleteFunctionCodeSigningConfig": self.delete,
        }

    async def put(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        config = await self._f.code_signing_config(params["CodeSigningConfigArn"], CodeSigningConfigNotFound)
        await self._f.registry.set_code_signing_config(name, config.config_id)
        return {"CodeSigningConfigArn": self._f.arns.code_signing_config(config.config_id), "FunctionName": name}

    async def get(self, params: Params, call: Call) -> Result:
        """A function without a configuration answers an empty CodeSigningConfigArn, as AWS does."""
        name = unqualified_name(params["FunctionName"])
        config_id = (await self._f.registry.get_function(name)).code_signing_config
        arn = "" if config_id is None else self._f.arns.code_signing_config(config_id)
        return {"CodeSigningConfigArn": arn, "FunctionName": name}

    async def delete(self, params: Params, call: Call) -> Result:
        await self._f.registry.set_code_signing_config(unqualified_name(params["FunctionName"]), None)
        return {}
