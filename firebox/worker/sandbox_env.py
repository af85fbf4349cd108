"""The environment variables Lambda gives a function's process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from firebox.store import FunctionConfig


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


# A function's choice of network: "none" (the default: no network at all) or "outbound".
NETWORK_VARIABLE = "FIREBOX_NETWORK"
NETWORK_CHOICES = ("none", "outbound")

# Names a function's own Environment may not set, as on AWS.
RESERVED_NAMES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def sandbox_environment(  # LAMBDA_TASK_ROOT and AWS_LAMBDA_RUNTIME_API come from the sandbox backend
    config: FunctionConfig,
    *,
    region: str,
    runtime_dir: Path,
    log_stream: str,
    execution_env: str,
    credentials: Credentials,
    api_endpoint: str,
    provisioned: bool = False,
) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LD_LIBRARY_PATH": "/lib64:/usr/lib64:/opt/lib",
        # The function's own variables come first so that Lambda's reserved ones always win.
        **config.environment,
        "_HANDLER": config.handler or "",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": _initialization_type(config, provisioned),
        "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_SESSION_TOKEN": credentials.session_token,
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        # boto3 inside the function talks to this Firebox's Lambda API, as it would to Lambda's on AWS.
        "AWS_ENDPOINT_URL_LAMBDA": api_endpoint,
    }
    if execution_env:
        env["AWS_EXECUTION_ENV"] = execution_env
    return env


def _initialization_type(config: FunctionConfig, provisioned: bool) -> str:
    if provisioned:
        return "provisioned-concurrency"
    return "snap-start" if config.restores_from_snapshot else "on-demand"
