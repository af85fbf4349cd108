"""Secrets at rest: environment variables are sealed in the state store under the state key, a wrong key
is refused at start, older clear records are sealed on start, and stored code is checked before it runs."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from botocore.exceptions import ClientError

from firebox.store import SqliteStore
from firebox.store.records import decode_function, encode
from tests.polling import poll_until
from tests.server_process import FIREBOX, FireboxServer

SHOW_ENV = """import os
def handler(event, context):
    return {k: v for k, v in os.environ.items() if k.startswith('SEALED')}
"""
KMS = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _on_disk(data_dir: Path) -> bytes:
    """Everything the state store's files hold, the write-ahead log included."""
    return b"".join(path.read_bytes() for path in data_dir.glob("state.db*"))


def test_variables_are_sealed_at_rest_and_clear_only_to_the_function(
    start_server: Callable[..., FireboxServer], tmp_path: Path
) -> None:
    server = start_server()
    client = server.client()
    value, other = f"v{secrets.token_hex(12)}", f"w{secrets.token_hex(12)}"
    server.create_function("sealed", SHOW_ENV, Environment={"Variables": {"SEALED_ONE": value}}, KMSKeyArn=KMS)
    client.publish_version(FunctionName="sealed")
    client.update_function_configuration(FunctionName="sealed", Environment={"Variables": {"SEALED_TWO": other}})
    configuration = client.get_function_configuration(FunctionName="sealed", Qualifier="1")
    assert configuration["Environment"]["Variables"] == {"SEALED_ONE": value}
    assert configuration["KMSKeyArn"] == KMS
    answer = client.invoke(FunctionName="sealed", Qualifier="1")
    assert json.loads(answer["Payload"].read()) == {"SEALED_ONE": value}
    disk = _on_disk(server.data_dir)
    assert value.encode() not in disk and other.encode() not in disk and b"SEALED_" not in disk
    assert (server.data_dir / "state.key").stat().st_mode & 0o777 == 0o600
    key = (server.data_dir / "state.key").read_bytes()
    assert key.hex() not in server.log() and base64.b64encode(key).decode() not in server.log()
    server.stop()
    server.start()  # the same key opens them again
    assert server.client().get_function_configuration(FunctionName="sealed")["Environment"]["Variables"] == {
        "SEALED_TWO": other
    }


def test_a_wrong_state_key_is_refused_and_an_operators_key_file_is_used(
    start_server: Callable[..., FireboxServer], tmp_path: Path
) -> None:
    server = start_server()
    server.create_function("keyed", SHOW_ENV, Environment={"Variables": {"SEALED": "x"}})
    server.stop()
    kept = tmp_path / "elsewhere.key"
    (server.data_dir / "state.key").rename(kept)
    # With no key, the server would make a new one: which does not open what the old one sealed.
    refused = subprocess.run(
        [str(FIREBOX), "serve", "--data-dir", str(server.data_dir), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "is not the key this data directory's secrets were sealed with" in refused.stderr
    (server.data_dir / "state.key").unlink()
    moved = start_server("--state-key-file", str(kept), data_dir=server.data_dir)
    assert moved.client().get_function_configuration(FunctionName="keyed")["Environment"]["Variables"] == {
        "SEALED": "x"
    }
    assert not (server.data_dir / "state.key").exists()


def test_variables_an_older_firebox_kept_in_the_clear_are_sealed_on_start(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    server.create_function("older", SHOW_ENV)
    server.stop()
    clear = f"clear{secrets.token_hex(12)}"

    async def write_as_an_older_firebox() -> None:
        store = SqliteStore(server.data_dir / "state.db")
        entry = await store.get("fn/older")
        assert entry is not None
        record = decode_function(entry.value)
        latest = msgspec.structs.replace(record.latest, environment={"SEALED_OLD": clear})
        await store.update(entry.key, encode(msgspec.structs.replace(record, latest=latest)), entry.revision)
        await store.close()

    asyncio.run(write_as_an_older_firebox())
    assert clear.encode() in _on_disk(server.data_dir)
    server.start()
    assert clear.encode() not in _on_disk(server.data_dir)
    client = server.client()
    assert client.get_function_configuration(FunctionName="older")["Environment"]["Variables"] == {"SEALED_OLD": clear}
    assert json.loads(client.invoke(FunctionName="older")["Payload"].read()) == {"SEALED_OLD": clear}


def test_kms_key_arn_is_checked_kept_and_cleared(server: FireboxServer, function_name: str) -> None:
    client = server.client(parameter_validation=False)
    server.create_function(function_name, SHOW_ENV, KMSKeyArn=KMS)
    assert client.get_function_configuration(FunctionName=function_name)["KMSKeyArn"] == KMS
    with pytest.raises(ClientError) as refused:
        client.update_function_configuration(FunctionName=function_name, KMSKeyArn="not an arn")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    client.update_function_configuration(FunctionName=function_name, KMSKeyArn="")
    assert "KMSKeyArn" not in client.get_function_configuration(FunctionName=function_name)


def test_stored_code_that_changed_on_disk_is_never_run(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--keep-alive", "0.2")
    created: dict[str, Any] = server.create_function("tampered", SHOW_ENV)
    digest = base64.b64decode(created["CodeSha256"]).hex()
    blob = server.data_dir / "code" / f"{digest}.zip"
    original = blob.read_bytes()
    blob.write_bytes(original.replace(b"SEALED", b"OTHERS"))  # same size, other content
    with pytest.raises(ClientError) as refused:
        server.client().invoke(FunctionName="tampered")
    assert "does not match its CodeSha256" in refused.value.response["Error"]["Message"]
    blob.write_bytes(original)
    assert server.client().invoke(FunctionName="tampered")["StatusCode"] == 200


def test_a_snapshot_of_code_changed_on_disk_fails_its_version(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    client = server.client()
    try:
        created = server.create_function(
            "tampered-snap", SHOW_ENV, runtime="python3.12", SnapStart={"ApplyOn": "PublishedVersions"}
        )
    except client.exceptions.InvalidParameterValueException as exc:
        pytest.skip(str(exc))
    blob = server.data_dir / "code" / f"{base64.b64decode(created['CodeSha256']).hex()}.zip"
    blob.write_bytes(blob.read_bytes().replace(b"SEALED", b"OTHERS"))
    version = client.publish_version(FunctionName="tampered-snap")["Version"]
    configuration = poll_until(
        lambda: client.get_function_configuration(FunctionName="tampered-snap", Qualifier=version),
        lambda found: found["State"] != "Pending",
    )
    assert configuration["State"] == "Failed"
    assert "does not match its CodeSha256" in configuration["StateReason"]
    assert server.process is not None and server.process.poll() is None  # the worker carried on
