"""Files: a function cannot read the host's files, another function's code, or another environment's /tmp,
and cannot write its own code."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.security.hostile import invoke, logged, succeeded, wait_for
from tests.server_process import FireboxServer

READ_BY_PATH = """
import sys
import probe
from probe import attempt, read

def handler(event, context):
    observed = {}
    for path in event["paths"]:
        for variant in (path, "/proc/self/root" + path, "/proc/1/root" + path, "/proc/1/cwd/../../.." + path,
                        "/var/task/../../.." + path, "/dev/fd/../../.." + path):
            observed[variant] = attempt(read, variant)
    # The files by name, wherever a directory of the host might show through.
    for path in probe.walk("/", skip=("/proc", "/usr", "/etc", "/dev", sys.base_prefix, sys.prefix)):
        if event["marker"] in path:
            observed["found " + path] = attempt(read, path)
    return observed
"""

# Each probe leaves the code as it was, should it succeed.
WRITE_CODE = """
import os
from probe import attempt

def _open_for_writing(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))

def _create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.unlink(path)

def _mkdir(path):
    os.mkdir(path)
    os.rmdir(path)

def _symlink(path):
    os.symlink("/tmp", path)
    os.unlink(path)

def _rename_and_back(path):
    os.rename(path, path + ".old")
    os.rename(path + ".old", path)

def handler(event, context):
    size = os.path.getsize("/var/task/app.py")
    mode = os.stat("/var/task/app.py").st_mode & 0o7777
    return {
        "open /var/task/app.py for writing": attempt(_open_for_writing, "/var/task/app.py"),
        "create /var/task/new.py": attempt(_create, "/var/task/new.py"),
        "mkdir /var/task/lib": attempt(_mkdir, "/var/task/lib"),
        "chmod /var/task/app.py": attempt(os.chmod, "/var/task/app.py", mode),
        "chmod /var/task": attempt(os.chmod, "/var/task", os.stat("/var/task").st_mode & 0o7777),
        "rename /var/task/app.py": attempt(_rename_and_back, "/var/task/app.py"),
        "unlink /var/task/spare.txt": attempt(os.unlink, "/var/task/spare.txt"),
        "utime /var/task/app.py": attempt(os.utime, "/var/task/app.py"),
        "symlink in /var/task": attempt(_symlink, "/var/task/link"),
        "truncate /var/task/app.py": attempt(os.truncate, "/var/task/app.py", size),
    }
"""

SECRET_CODE = """
SECRET = {secret!r}

def handler(event, context):
    return {{"secret": SECRET, "files": sorted(__import__("os").listdir("/var/task"))}}
"""

STEAL_CODE = """
import os
import sys
import probe
from probe import attempt, read

def handler(event, context):
    observed = {}
    for host_path in event["host_paths"]:
        observed[host_path] = attempt(read, host_path)
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    observed["pids"] = "refused: only " + repr(pids) if pids == ["1"] else "ok: " + repr(pids)
    for pid in pids + ["self", "thread-self"]:
        for where in ("root", "cwd"):
            path = f"/proc/{pid}/{where}/var/task/secret.txt"
            observed[path] = attempt(read, path)
    observed["own /var/task/secret.txt"] = attempt(read, "/var/task/secret.txt")
    mounts = [line for line in read("/proc/self/mountinfo").splitlines() if event["digest_hint"] in line]
    observed["mounts of the other function's code"] = "ok: " + repr(mounts) if mounts else "refused: none"
    for path in probe.walk("/", skip=("/proc", "/usr", "/etc", "/dev", "/var/task", sys.base_prefix, sys.prefix)):
        if path.endswith("/secret.txt"):
            observed["found " + path] = attempt(read, path)
    return observed
"""

TMP_SHARING = """
import os
import time

def handler(event, context):
    if event["role"] == "writer":
        with open("/tmp/secret-" + context.aws_request_id, "w") as f:
            f.write(event["secret"])
        print("secret written", flush=True)
        # Stay busy, so the next invocation of this function needs an environment of its own.
        deadline = time.monotonic() + event["hold_s"]
        while time.monotonic() < deadline:
            time.sleep(0.02)
    secrets = {}
    for name in sorted(os.listdir("/tmp"))[:50]:
        if name.startswith("secret-"):
            with open("/tmp/" + name) as f:
                secrets[name] = f.read(200)
    others = [pid for pid in os.listdir("/proc") if pid.isdigit() and pid != "1"]
    return {"stream": context.log_stream_name, "tmp": sorted(os.listdir("/tmp"))[:50], "secrets": secrets,
            "other processes": others, "ended": time.time()}
"""


@pytest.fixture
def root_secret() -> Iterator[Path]:
    """A secret file in root's home on the host."""
    path = Path("/root") / f"firebox-security-{secrets.token_hex(8)}.txt"
    path.write_text(f"root secret {secrets.token_hex(16)}")
    yield path
    path.unlink(missing_ok=True)


def test_host_files_cannot_be_read_by_path(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer, tmp_path: Path, root_secret: Path
) -> None:
    marker = root_secret.stem
    in_tmp = tmp_path / f"{marker}-tmp.txt"
    in_tmp.write_text(f"tmp secret {secrets.token_hex(16)}")
    paths = [str(in_tmp), str(root_secret), str(server.data_dir / "state.db"), str(server.log_path)]
    outcome = invoke(lambda_client, deploy(READ_BY_PATH, Timeout=15), {"paths": paths, "marker": marker})
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}
    assert len(outcome.payload) == len(paths) * 6


def test_own_code_is_read_only(deploy: Callable[..., str], lambda_client: Any) -> None:
    outcome = invoke(lambda_client, deploy(WRITE_CODE, files={"spare.txt": "spare"}))
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}


def test_another_functions_code_is_out_of_reach(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer
) -> None:
    secret = f"code secret {secrets.token_hex(16)}"
    victim = deploy(SECRET_CODE.format(secret=secret), "-victim", files={"secret.txt": secret})
    assert invoke(lambda_client, victim).payload["secret"] == secret  # unpacked, and its environment is warm
    unpacked = [p for p in (server.data_dir / "tasks").glob("*/secret.txt") if p.read_text() == secret]
    assert unpacked, "the victim's code was not found unpacked on the host"
    host_paths = [str(unpacked[0]), str(unpacked[0].with_name("app.py"))]
    digest = lambda_client.get_function(FunctionName=victim)["Configuration"]["CodeSha256"]
    outcome = invoke(
        lambda_client,
        deploy(STEAL_CODE, "-thief", Timeout=15),
        {"host_paths": host_paths, "digest_hint": unpacked[0].parent.name},
    )
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}, f"the victim's code (sha256 {digest}) leaked"
    assert secret not in json.dumps(outcome.payload)


def test_tmp_is_private_to_its_environment(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer
) -> None:
    secret = f"tmp secret {secrets.token_hex(16)}"
    same = deploy(TMP_SHARING, Timeout=30)
    other = deploy(TMP_SHARING, "-other")
    logs = server.client("logs")
    with ThreadPoolExecutor(3) as pool:
        writer = pool.submit(invoke, lambda_client, same, {"role": "writer", "secret": secret, "hold_s": 4})
        wait_for(lambda: logged(logs, same, "secret written"), 15, "the writer's secret in its /tmp")
        # The writer is still busy: this invocation of the same function gets a second environment.
        readers = [pool.submit(invoke, lambda_client, name, {"role": "reader"}) for name in (same, other)]
        same_env, other_env = (reader.result() for reader in readers)
        written = writer.result()
    for outcome in (written, same_env, other_env):
        assert outcome.function_error is None, outcome
    assert secret in written.payload["secrets"].values(), f"the writer did not keep its own secret: {written}"
    assert same_env.payload["stream"] != written.payload["stream"], "both invocations ran in one environment"
    assert same_env.payload["ended"] < written.payload["ended"], "the environments did not overlap"
    for reader in (same_env, other_env):
        assert reader.payload["tmp"] == [] and reader.payload["other processes"] == [], reader
