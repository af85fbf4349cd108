"""Functions: CreateFunction, GetFunction(Configuration), ListFunctions, UpdateFunctionCode,
UpdateFunctionConfiguration, DeleteFunction."""

from __future__ import annotations

import platform
from typing import Any

import msgspec

from firebox.errors import CodeSigningConfigNotFound, InvalidParameter
from firebox.frontend.code_upload import check_unzipped_total, code_location, store_zip
from firebox.frontend.code_verification import CodeVerification
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.function_layers import resolve_layers
from firebox.frontend.names import new_function_name, split_function_name, unqualified_name
from firebox.frontend.qualifiers import is_version, resolve_config
from firebox.frontend.tags import check_new_tags
from firebox.frontend.targets import check_dead_letter_target
from firebox.store import LATEST, CodeRef, FunctionConfig, new_revision_id, now_last_modified
from firebox.worker import NETWORK_CHOICES, NETWORK_VARIABLE, RESERVED_NAMES

MAX_ENVIRONMENT_BYTES = 4096
_HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), platform.machine()
)

# SnapStart for Python starts at 3.12 on AWS, with ephemeral storage at its default size.
_SNAP_START_RUNTIMES = frozenset({"python3.12", "python3.13", "python3.14"})
_SNAP_START_MAX_STORAGE_MB = 512

# Parameters whose feature Firebox does not have yet: refusing them beats pretending to honour them.
_NOT_YET = {
    "VpcConfig": "VPC configuration has no meaning on Firebox",
    "FileSystemConfigs": "File system configurations are not supported by Firebox",
    "ImageConfig": "Container image functions are not supported by Firebox",
    "CapacityProviderConfig": "Capacity providers are not supported by Firebox",
    "DurableConfig": "Durable functions are not supported by Firebox",
    "TenancyConfig": "Tenancy configuration is not supported by Firebox",
    "PublishTo": "Publishing to LATEST_PUBLISHED is not supported by Firebox",
    "RuntimeConfig": "Customer-managed runtimes are not supported by Firebox",
    "AcceleratorConfig": "Accelerators are not supported by Firebox",
}


def _refuse_unsupported(params: Params) -> None:
    for name, reason in _NOT_YET.items():
        value = params.get(name)
        if value not in (None, [], {}):
            raise InvalidParameter(reason)
    if params.get("TracingConfig", {}).get("Mode", "PassThrough") != "PassThrough":
        raise InvalidParameter("Active tracing is not supported by Firebox yet")
    if params.get("LoggingConfig", {}).get("LogFormat", "Text") != "Text":
        raise InvalidParameter("Only the Text log format is supported by Firebox yet")


class Functions:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend
        self._verification = CodeVerification(frontend)

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateFunction": self.create,
            "GetFunction": self.get,
            "GetFunctionConfiguration": self.get_configuration,
            "ListFunctions": self.list,
            "UpdateFunctionCode": self.update_code,
            "UpdateFunctionConfiguration": self.update_configuration,
            "DeleteFunction": self.delete,
        }

    # -- checks shared by create and update ---------------------------------------------------------------

    def _check_runtime(self, runtime: str | None, handler: str | None) -> None:
        if runtime is None or handler is None:
            raise InvalidParameter(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages."
            )
        if not self._f.runtimes.supports(runtime):
            raise InvalidParameter(
                f"The runtime parameter of {runtime} is not supported by this Firebox host. "
                f"Supported runtimes: {', '.join(self._f.runtimes.names)}"
            )

    @staticmethod
    def _environment(params: Params) -> dict[str, str] | None:
        environment = params.get("Environment")
        if environment is None:
            return None
        variables: dict[str, str] = environment.get("Variables", {})
        reserved = sorted(set(variables) & RESERVED_NAMES)
        if reserved:
            raise InvalidParameter(
                "Lambda was unable to configure your environment variables because the environment variables you "
                "have provided contains reserved keys that are currently not supported for modification. "
                f"Reserved keys used in this request: {', '.join(reserved)}"
            )
        network = variables.get(NETWORK_VARIABLE)
        if network is not None and network not in NETWORK_CHOICES:
            raise InvalidParameter(f"{NETWORK_VARIABLE} must be one of {', '.join(NETWORK_CHOICES)}, not {network!r}")
        size = len(msgspec.json.encode(variables))
        if size > MAX_ENVIRONMENT_BYTES:
            raise InvalidParameter(
                "Lambda was unable to configure your environment variables because the environment variables you "
                f"have provided exceeded the 4KB limit. String measured: {size} bytes"
            )
        return variables

    @staticmethod
    def _dead_letter_target(params: Params) -> str | None:
        """DeadLetterConfig's TargetArn: "" when the request removes it, None when it does not mention it."""
        if "DeadLetterConfig" not in params:
            return None
        target: str = params["DeadLetterConfig"].get("TargetArn", "")
        if target:
            check_dead_letter_target(target)
        return target

    @staticmethod
    def _check_snap_start(apply_on: str, runtime: str | None, ephemeral_storage: int) -> None:
        """What AWS allows with SnapStart (for Python): the managed runtimes from 3.12, and the default /tmp."""
        if apply_on == "None":
            return
        if runtime not in _SNAP_START_RUNTIMES:
            raise InvalidParameter(f"{runtime} is not supported for SnapStart enabled functions.")
        if ephemeral_storage > _SNAP_START_MAX_STORAGE_MB:
            raise InvalidParameter(
                f"SnapStart is not supported for functions with more than {_SNAP_START_MAX_STORAGE_MB} MB of "
                "ephemeral storage."
            )

    @staticmethod
    def _architectures(params: Params) -> tuple[str, ...] | None:
        architectures = params.get("Architectures")
        if architectures is None:
            return None
        if len(architectures) != 1:
            raise InvalidParameter("Architectures must name exactly one architecture")
        if architectures[0] != _HOST_ARCHITECTURE:
            raise InvalidParameter(
                f"Architecture {architectures[0]} cannot run on this Firebox host, which runs {_HOST_ARCHITECTURE}"
            )
        return tuple(architectures)

    async def _store_zip(self, zip_file: bytes | None) -> CodeRef:
        return await store_zip(self._f.code_store, zip_file, "code")

    # -- operations ---------------------------------------------------------------------------------

    async def create(self, params: Params, call: Call) -> Result:
        name = new_function_name(params["FunctionName"])
        if params.get("PackageType", "Zip") != "Zip":
            raise InvalidParameter("Container image functions are not supported by Firebox")
        _refuse_unsupported(params)
        runtime, handler = params.get("Runtime"), params.get("Handler")
        self._check_runtime(runtime, handler)
        environment = self._environment(params) or {}
        architectures = self._architectures(params) or (_HOST_ARCHITECTURE,)
        snap_start = params.get("SnapStart", {}).get("ApplyOn", "None")
        ephemeral_storage = params.get("EphemeralStorage", {}).get("Size", 512)
        self._check_snap_start(snap_start, runtime, ephemeral_storage)
        signing_arn = params.get("CodeSigningConfigArn")
        signing = await self._f.code_signing_config(signing_arn, CodeSigningConfigNotFound) if signing_arn else None
        layers = await resolve_layers(self._f.layers, self._f.arns, params.get("Layers", []))
        code = await self._store_zip(params["Code"].get("ZipFile"))
        await check_unzipped_total(self._f.code_store, code, layers)
        code_signature = await self._verification.code(signing, code, name)
        layers = await self._verification.layers(signing, layers, name)
        config = FunctionConfig(
            name=name,
            version=LATEST,
            runtime=runtime,
            handler=handler,
            role=params["Role"],
            code=code,
            last_modified=now_last_modified(),
            revision_id=new_revision_id(),
            description=params.get("Description", ""),
            timeout=params.get("Timeout", 3),
            memory_size=params.get("MemorySize", 128),
            ephemeral_storage=ephemeral_storage,
            environment=environment,
            architectures=architectures,
            snap_start=snap_start,
            dead_letter_target=self._dead_letter_target(params) or None,
            layers=layers,
            kms_key_arn=params.get("KMSKeyArn") or None,
            code_signature=code_signature,
        )
        tags = check_new_tags(params.get("Tags", {}))
        created = await self._f.registry.create_function(
            config, tags, owner=call.caller.principal, code_signing_config=signing.config_id if signing else None
        )
        if params.get("Publish"):
            created = await self._f.publish(name)
        return self._f.configuration(created)

    async def get(self, params: Params, call: Call) -> Result:
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        config = await resolve_config(self._f.registry, name, qualifier)
        result: Result = {
            "Configuration": self._f.configuration(config, qualifier),
            "Code": {"RepositoryType": "S3", "Location": code_location(call.base_url, config.code)},
        }
        tags = (await self._f.registry.get_function(name)).tags
        if tags:
            result["Tags"] = dict(tags)
        reserved = self._f.assignment.concurrency.reserved(name)
        if reserved is not None:
            result["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return result

    async def get_configuration(self, params: Params, call: Call) -> Result:
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        config = await resolve_config(self._f.registry, name, qualifier)
        return self._f.configuration(config, qualifier)

    async def list(self, params: Params, call: Call) -> Result:
        limit = params.get("MaxItems", 50)
        if not 1 <= limit <= 10000:
            raise InvalidParameter("MaxItems must be between 1 and 10000")
        configs, next_name = await self._f.registry.list_functions(params.get("Marker", ""), limit)
        every_version = params.get("FunctionVersion") == "ALL"
        if every_version:
            configs = [v for c in configs for v in await self._f.registry.list_versions(c.name)]
        result: Result = {
            "Functions": [self._f.configuration(c, c.version if every_version else None, listed=True) for c in configs]
        }
        if next_name is not None:
            result["NextMarker"] = next_name
        return result

    async def update_code(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        _refuse_unsupported(params)
        architectures = self._architectures(params)
        record = await self._f.registry.get_function(name)
        code = await self._store_zip(params.get("ZipFile"))
        await check_unzipped_total(self._f.code_store, code, record.latest.layers)
        signing = await self._verification.config(record.code_signing_config)
        code_signature = await self._verification.code(signing, code, name)
        if params.get("DryRun"):
            return self._f.configuration(
                msgspec.structs.replace(record.latest, code=code, code_signature=code_signature)
            )

        def change(config: FunctionConfig) -> FunctionConfig:
            return msgspec.structs.replace(
                config, code=code, code_signature=code_signature, architectures=architectures or config.architectures
            )

        updated = await self._f.registry.update_latest(name, change, params.get("RevisionId"))
        self._f.assignment.retire(name, keep=lambda version, revision: version != LATEST)
        if params.get("Publish"):
            updated = await self._f.publish(name)
        return self._f.configuration(updated)

    async def update_configuration(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        _refuse_unsupported(params)
        environment = self._environment(params)
        record = await self._f.registry.get_function(name)
        current = record.latest
        runtime = params.get("Runtime", current.runtime)
        handler = params.get("Handler", current.handler)
        self._check_runtime(runtime, handler)
        fields: dict[str, Any] = {"runtime": runtime, "handler": handler}
        for param, field in (
            ("Role", "role"),
            ("Description", "description"),
            ("Timeout", "timeout"),
            ("MemorySize", "memory_size"),
        ):
            if param in params:
                fields[field] = params[param]
        if "EphemeralStorage" in params:
            fields["ephemeral_storage"] = params["EphemeralStorage"]["Size"]
        if environment is not None:
            fields["environment"] = environment
        if "KMSKeyArn" in params:  # "" goes back to the default key, as on AWS
            fields["kms_key_arn"] = params["KMSKeyArn"] or None
        dead_letter_target = self._dead_letter_target(params)
        if dead_letter_target is not None:
            fields["dead_letter_target"] = dead_letter_target or None
        if "SnapStart" in params:
            fields["snap_start"] = params["SnapStart"].get("ApplyOn", "None")
        if "Layers" in params:
            layers = await resolve_layers(self._f.layers, self._f.arns, params["Layers"])
            await check_unzipped_total(self._f.code_store, current.code, layers)
            signing = await self._verification.config(record.code_signing_config)
            fields["layers"] = await self._verification.layers(signing, layers, name)
        self._check_snap_start(
            fields.get("snap_start", current.snap_start),
            runtime,
            fields.get("ephemeral_storage", current.ephemeral_storage),
        )

        def change(config: FunctionConfig) -> FunctionConfig:
            return msgspec.structs.replace(config, **fields)

        updated = await self._f.registry.update_latest(name, change, params.get("RevisionId"))
        self._f.assignment.retire(name, keep=lambda version, revision: version != LATEST)
        return self._f.configuration(updated)

    async def delete(self, params: Params, call: Call) -> Result:
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        if qualifier is None:
            await self._f.registry.delete_function(name)
            self._f.assignment.forget(name)
            return {"StatusCode": 204}  # the model leaves this status to the result
        if qualifier == LATEST or not is_version(qualifier):
            raise InvalidParameter(f"Deletion of {qualifier} is not allowed: name a published version")
        await self._f.registry.delete_version(name, qualifier)
        await self._f.forget_provisioned(name, qualifier)
        self._f.assignment.retire(name, keep=lambda version, revision: version != qualifier)
        return {"StatusCode": 204}  # the model leaves this status to the result
