"""Runtimes other than the built-in Python one: custom `provided` runtimes, awslambdaric, Powertools."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.zips import zip_directory

SITE_PACKAGES = Path(next(p for p in sys.path if p.endswith("site-packages")))
# Sandboxes see the host's interpreters, not this virtualenv: custom runtimes run on the base interpreter.
PYTHON = getattr(sys, "_base_executable", sys.executable)

# A complete custom runtime in a few lines of Python: the Runtime API is plain HTTP.
CUSTOM_BOOTSTRAP = f"""#!{PYTHON} -S
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
api = http.client.HTTPConnection(host, int(port))
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    event = json.loads(reply.read())
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    body = json.dumps({{"handler": os.environ["_HANDLER"], "event": event, "root": os.environ["LAMBDA_TASK_ROOT"]}})
    print("custom runtime handled", request_id, flush=True)
    api.request("POST", f"/2018-06-01/runtime/invocation/{{request_id}}/response", body)
    api.getresponse().read()
"""


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_custom_bootstrap(lambda_client: Any, create_function: Any, function_name: str, runtime: str) -> None:
    create_function({"bootstrap": CUSTOM_BOOTSTRAP}, handler="my.handler", runtime=runtime, executable=("bootstrap",))
    response = lambda_client.invoke(FunctionName=function_name, Payload=b'{"a": 1}', LogType="Tail")
    body = json.loads(response["Payload"].read())
    assert body["handler"] == "my.handler"
    assert body["event"] == {"a": 1}
    assert "custom runtime handled" in base64.b64decode(response["LogResult"]).decode()


def test_missing_bootstrap_is_an_invalid_entrypoint(
    lambda_client: Any, create_function: Any, function_name: str
) -> None:
    create_function({"README": "no bootstrap here"}, handler="x", runtime="provided.al2023")
    response = lambda_client.invoke(FunctionName=function_name)
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.InvalidEntrypoint"


def _bundle(package: Path, names: tuple[str, ...]) -> None:
    """Copy installed packages into a function's directory, as `pip install --target` would."""
    package.mkdir(exist_ok=True)
    for name in names:
        source = SITE_PACKAGES / name
        if source.is_dir():
            shutil.copytree(source, package / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, package / name)


def _create_awslambdaric_function(client: Any, name: str, tmp_path: Path, handler: str) -> None:
    """awslambdaric, unmodified, bundled in the zip and run by a `bootstrap`, as AWS documents for a
    custom runtime."""
    package = tmp_path / "package"
    native = next(p.name for p in SITE_PACKAGES.glob("runtime_client.*.so"))
    _bundle(package, ("awslambdaric", native, "simplejson", "snapshot_restore_py.py"))
    (package / "app.py").write_text(handler)
    bootstrap = package / "bootstrap"
    bootstrap.write_text(f'#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec {PYTHON} -m awslambdaric "$_HANDLER"\n')
    bootstrap.chmod(0o755)
    client.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role="arn:aws:iam::000000000000:role/x",
        Handler="app.handler",
        Code={"ZipFile": zip_directory(package)},
        Timeout=30,
    )


def test_awslambdaric_unmodified(lambda_client: Any, function_name: str, tmp_path: Path) -> None:
    handler = (
        "import os\ndef handler(event, context):\n    print('ric says hi')\n"
        "    return {'ric': True, 'rid': context.aws_request_id, 'event': event}\n"
    )
    _create_awslambdaric_function(lambda_client, function_name, tmp_path, handler)
    for n in range(2):
        response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps({"n": n}), LogType="Tail")
        body = json.loads(response["Payload"].read())
        assert body == {"ric": True, "rid": response["ResponseMetadata"]["RequestId"], "event": {"n": n}}
        assert "ric says hi" in base64.b64decode(response["LogResult"]).decode()


def test_awslambdaric_reports_handler_errors(lambda_client: Any, function_name: str, tmp_path: Path) -> None:
    _create_awslambdaric_function(
        lambda_client, function_name, tmp_path, "def handler(e, c):\n    raise KeyError('k')\n"
    )
    response = lambda_client.invoke(FunctionName=function_name)
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "KeyError"


def test_powertools_logger_bundled_in_the_zip(lambda_client: Any, tmp_path: Path, function_name: str) -> None:
    package = tmp_path / "package"
    _bundle(package, ("aws_lambda_powertools", "jmespath", "typing_extensions.py"))
    (package / "app.py").write_text(
        "from aws_lambda_powertools import Logger\n"
        "logger = Logger(service='checkout')\n"
        "@logger.inject_lambda_context\n"
        "def handler(event, context):\n"
        "    logger.info('order placed', extra={'order': event['order']})\n"
        "    return 'ok'\n"
    )
    lambda_client.create_function(
        FunctionName=function_name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/x",
        Handler="app.handler",
        Code={"ZipFile": zip_directory(package)},
        Timeout=30,
    )
    response = lambda_client.invoke(FunctionName=function_name, Payload=b'{"order": 7}', LogType="Tail")
    assert "FunctionError" not in response, response["Payload"].read()
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    [record] = [r for r in records if r.get("message") == "order placed"]
    assert record["order"] == 7
    assert record["service"] == "checkout"
    assert record["function_name"] == function_name
    assert record["function_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert record["cold_start"] is True


@pytest.mark.parametrize("minor", [9, 10, 11, 12, 13])
def test_python_runtime_runs_its_version(
    lambda_client: Any, create_function: Any, function_name: str, minor: int
) -> None:
    runtime = f"python3.{minor}"
    try:
        create_function(
            {"app.py": "import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n"},
            runtime=runtime,
        )
    except lambda_client.exceptions.InvalidParameterValueException:
        pytest.skip(f"{runtime} is not installed on this host")
    response = lambda_client.invoke(FunctionName=function_name)
    assert json.loads(response["Payload"].read()) == [3, minor]


def test_firebox_own_packages_are_not_visible(lambda_client: Any, create_function: Any, function_name: str) -> None:
    create_function({"app.py": "def handler(e, c):\n    import aiohttp\n"})
    response = lambda_client.invoke(FunctionName=function_name)
    assert json.loads(response["Payload"].read())["errorType"] == "ModuleNotFoundError"
