"""`firebox deploy`: create, then update code and only the configuration given."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

from firebox.cli.deploy import DEFAULT_ROLE, zip_directory
from tests.cli import firebox
from tests.server_process import FireboxServer


def _write_app(root: Path, greeting: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        f"    env = {{k: os.environ.get(k) for k in ('COLOR', 'URL')}}\n"
        f"    return {{'greeting': {greeting!r}, 'env': env}}\n"
    )
    return root


def _invoke(lambda_client: Any, name: str) -> Any:
    return json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())


def test_zip_keeps_modes_and_leaves_out_byte_code(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").write_text("#!/bin/sh\n")
    (tmp_path / "bootstrap").chmod(0o755)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mod.py").write_text("X = 1\n")
    (tmp_path / "lib" / "stale.pyc").write_bytes(b"\0")
    (tmp_path / "lib" / "__pycache__").mkdir()
    (tmp_path / "lib" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")

    archive = zipfile.ZipFile(io.BytesIO(zip_directory(tmp_path)))

    modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}
    assert modes == {"bootstrap": 0o755, "lib/mod.py": 0o644}
    assert zip_directory(tmp_path) == zip_directory(tmp_path)  # same files, same zip, same CodeSha256


def test_deploy_creates_then_updates_the_code(
    server: FireboxServer, lambda_client: Any, function_name: str, tmp_path: Path
) -> None:
    app = _write_app(tmp_path / "app", "first")
    args = ("deploy", function_name, str(app), "--runtime", "python3.11", "--handler", "app.handler")

    created = firebox(server, *args)

    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(f"created {function_name} (version $LATEST, CodeSha256 ")
    assert _invoke(lambda_client, function_name)["greeting"] == "first"
    assert lambda_client.get_function_configuration(FunctionName=function_name)["Role"] == DEFAULT_ROLE

    _write_app(app, "second")
    updated = firebox(server, *args)

    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.startswith(f"updated {function_name} (version $LATEST, ")
    assert _invoke(lambda_client, function_name)["greeting"] == "second"


def test_deploy_sets_the_options_given_and_keeps_the_others(
    server: FireboxServer, lambda_client: Any, function_name: str, tmp_path: Path
) -> None:
    app = _write_app(tmp_path / "app", "hi")
    created = firebox(
        server,
        "deploy",
        function_name,
        str(app),
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        "--env",
        "COLOR=blue",
        "--env",
        "URL=http://x/?a=b",
        "--memory",
        "256",
        "--timeout",
        "10",
        "--description",
        "made by the CLI",
    )
    assert created.returncode == 0, created.stderr
    assert _invoke(lambda_client, function_name)["env"] == {"COLOR": "blue", "URL": "http://x/?a=b"}

    # No --runtime or --handler: an existing function keeps its own.
    updated = firebox(server, "deploy", function_name, str(app), "--timeout", "5")

    assert updated.returncode == 0, updated.stderr
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert (config["Timeout"], config["MemorySize"], config["Description"]) == (5, 256, "made by the CLI")
    assert (config["Runtime"], config["Handler"]) == ("python3.11", "app.handler")
    assert config["Environment"]["Variables"] == {"COLOR": "blue", "URL": "http://x/?a=b"}


def test_creating_needs_runtime_and_handler(server: FireboxServer, function_name: str, tmp_path: Path) -> None:
    result = firebox(server, "deploy", function_name, str(_write_app(tmp_path / "app", "hi")))

    assert result.returncode == 1
    needed = f"error: --runtime and --handler are needed to create the function {function_name}\n"
    assert result.stderr == needed
