"""`firebox deploy`: zip a directory and create the function, or update the code and configuration of an
existing one."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import ClientError

from firebox.cli.connection import CommandFailed, Connection, error_code

DEFAULT_ACCOUNT = "000000000000"
DEFAULT_ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/firebox"
# One timestamp for every entry: the same files make the same zip, so CodeSha256 changes only with the code.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def zip_directory(root: Path) -> bytes:
    """The files under root, with their unix modes (an executable `bootstrap` must stay executable), without
    Python's byte-code caches, which the runtime rebuilds and which only make the package bigger."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory, subdirectories, files in os.walk(root, followlinks=True):
            subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".pyc"):
                    continue
                path = Path(directory, name)
                info = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                info.date_time = _ZIP_EPOCH
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _environment(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    variables: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE")
        variables[key] = text
    return variables


def _configuration(
    runtime: str | None,
    handler: str | None,
    memory: int | None,
    timeout: int | None,
    environment: dict[str, str] | None,
    role: str | None,
    description: str | None,
) -> dict[str, Any]:
    """The configuration parameters the user gave, by their API names; options not given are left out."""
    given = {
        "Runtime": runtime,
        "Handler": handler,
        "MemorySize": memory,
        "Timeout": timeout,
        "Environment": None if environment is None else {"Variables": environment},
        "Role": role,
        "Description": description,
    }
    return {key: value for key, value in given.items() if value is not None}


def _exists(lambda_client: Any, name: str) -> bool:
    try:
        lambda_client.get_function_configuration(FunctionName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


def _create(lambda_client: Any, name: str, code: bytes, configuration: dict[str, Any]) -> dict[str, Any]:
    if "Runtime" not in configuration or "Handler" not in configuration:
        raise CommandFailed(f"--runtime and --handler are needed to create the function {name}")
    created: dict[str, Any] = lambda_client.create_function(
        FunctionName=name, Code={"ZipFile": code}, **{"Role": DEFAULT_ROLE, **configuration}
    )
    return created


def _update(lambda_client: Any, name: str, code: bytes, configuration: dict[str, Any]) -> dict[str, Any]:
    updated: dict[str, Any] = lambda_client.update_function_code(FunctionName=name, ZipFile=code)
    if configuration:
        # Lambda refuses a configuration change while the code update is still in progress.
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
        updated = lambda_client.update_function_configuration(FunctionName=name, **configuration)
    return updated


@click.command()
@click.argument("name")
@click.argument("directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--runtime", help="Runtime, such as python3.11 or provided.al2023 (needed to create).")
@click.option("--handler", help="Handler, such as app.handler (needed to create).")
@click.option("--memory", type=int, help="Memory size in MB.")
@click.option("--timeout", type=int, help="Timeout in seconds.")
@click.option(
    "--env",
    "environment",
    multiple=True,
    callback=_environment,
    metavar="KEY=VALUE",
    help="An environment variable; repeat for more. Replaces all variables when given.",
)
@click.option("--role", help=f"Execution role ARN [default on create: {DEFAULT_ROLE}].")
@click.option("--description", help="Description of the function.")
@click.pass_obj
def deploy(
    connection: Connection,
    name: str,
    directory: Path,
    runtime: str | None,
    handler: str | None,
    memory: int | None,
    timeout: int | None,
    environment: dict[str, str] | None,
    role: str | None,
    description: str | None,
) -> None:
    """Create function NAME from the files in DIR, or update it if it exists."""
    try:
        code = zip_directory(directory)
    except OSError as error:
        raise CommandFailed(f"cannot read {error.filename}: {error.strerror}") from error
    configuration = _configuration(runtime, handler, memory, timeout, environment, role, description)
    lambda_client = connection.client("lambda")
    if _exists(lambda_client, name):
        result, action = _update(lambda_client, name, code, configuration), "updated"
    else:
        result, action = _create(lambda_client, name, code, configuration), "created"
    click.echo(
        f"{action} {result['FunctionName']} (version {result['Version']}, "
        f"CodeSha256 {result['CodeSha256']}, {result['CodeSize']} bytes)"
    )
