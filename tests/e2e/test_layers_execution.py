"""Layers in execution environments: extracted in order under /opt, read-only, found by the Python runtime,
on PATH and LD_LIBRARY_PATH, and as a custom runtime's bootstrap; with both sandbox backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import ROLE
from tests.e2e.test_runtimes import CUSTOM_BOOTSTRAP
from tests.server_process import FireboxServer
from tests.zips import make_zip

PYTHON_VERSION = "python3.11"
LAYER_FILES: dict[str, str | bytes] = {
    "python/from_layer.py": "VALUE = 'from /opt/python'\n",
    f"python/lib/{PYTHON_VERSION}/site-packages/site_package.py": "VALUE = 'from site-packages'\n",
    "data/config.txt": "configured by a layer",
    "bin/layer-tool": "#!/bin/sh\necho tool ran\n",
}
# Reads the layers where the Python runtime finds them: /opt, or where the process backend says they are.
USES_LAYER = """
import errno, os, subprocess, sys
import from_layer, site_package

def handler(event, context):
    opt = os.environ.get("FIREBOX_OPT_ROOT", "/opt")
    try:
        open(os.path.join(opt, "written-by-the-function"), "w").close()
        writable = "yes"
    except OSError as exc:
        writable = errno.errorcode[exc.errno]
    return {
        "module": from_layer.__file__,
        "values": [from_layer.VALUE, site_package.VALUE],
        "data": open(os.path.join(opt, "data/config.txt")).read(),
        "path": sys.path[:3],
        "tool": subprocess.run(["layer-tool"], capture_output=True, text=True).stdout,
        "library_path": os.environ["LD_LIBRARY_PATH"].split(":"),
        "opt": opt,
        "writable": writable,
    }
"""
WHICH = "import which\ndef handler(event, context):\n    return which.VALUE\n"


def _invoke(client: Any, name: str, qualifier: str = "$LATEST") -> Any:
    response = client.invoke(FunctionName=name, Qualifier=qualifier)
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def _publish(client: Any, name: str, files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> str:
    content = make_zip(files, executable)
    return str(client.publish_layer_version(LayerName=name, Content={"ZipFile": content})["LayerVersionArn"])


def test_a_function_finds_its_layer_under_opt(lambda_client: Any, create_function: Any, function_name: str) -> None:
    layer = _publish(lambda_client, function_name, LAYER_FILES, executable=("bin/layer-tool",))
    create_function({"app.py": USES_LAYER}, runtime=PYTHON_VERSION, Layers=[layer])
    reply = _invoke(lambda_client, function_name)
    assert reply["module"] == "/opt/python/from_layer.py"
    assert reply["values"] == ["from /opt/python", "from site-packages"]
    assert reply["data"] == "configured by a layer"
    # AWS's order: the function's code, then the layers' two directories, then the runtime's own.
    assert reply["path"] == ["/var/task", f"/opt/python/lib/{PYTHON_VERSION}/site-packages", "/opt/python"]
    assert reply["tool"] == "tool ran\n"
    assert "/opt/lib" in reply["library_path"]
    assert reply["opt"] == "/opt"
    assert reply["writable"] == "EROFS"


def test_a_later_layer_wins(lambda_client: Any, create_function: Any, function_name: str) -> None:
    first = _publish(
        lambda_client,
        f"{function_name}-1",
        {"python/which.py": "VALUE = 'first'\n", "python/only_first.py": "", "thing": "a file"},
    )
    second = _publish(
        lambda_client,
        f"{function_name}-2",
        {"python/which.py": "VALUE = 'second'\n", "python/only_second.py": "", "thing/inside.txt": "a directory"},
    )
    check = (
        "import os, which\n"
        "def handler(event, context):\n"
        "    return [which.VALUE, sorted(os.listdir('/opt/python')), os.path.isdir('/opt/thing')]\n"
    )
    create_function({"app.py": check}, name=f"{function_name}-a", Layers=[first, second])
    create_function({"app.py": check}, name=f"{function_name}-b", Layers=[second, first])
    listing = ["only_first.py", "only_second.py", "which.py"]
    assert _invoke(lambda_client, f"{function_name}-a") == ["second", listing, True]
    assert _invoke(lambda_client, f"{function_name}-b") == ["first", listing, False]


def test_five_layers_in_one_function(lambda_client: Any, create_function: Any, function_name: str) -> None:
    layers = [_publish(lambda_client, f"{function_name}-{i}", {f"python/mod{i}.py": f"N = {i}\n"}) for i in range(5)]
    code = (
        "import mod0, mod1, mod2, mod3, mod4\ndef handler(e, c):\n    return [mod0.N, mod1.N, mod2.N, mod3.N, mod4.N]\n"
    )
    create_function({"app.py": code}, Layers=layers)
    assert _invoke(lambda_client, function_name) == [0, 1, 2, 3, 4]


def test_layers_of_latest_change_and_a_published_version_keeps_its_own(
    lambda_client: Any, create_function: Any, function_name: str
) -> None:
    first = _publish(lambda_client, function_name, {"python/which.py": "VALUE = 'version 1'\n"})
    create_function({"app.py": WHICH}, Layers=[first])
    assert _invoke(lambda_client, function_name) == "version 1"
    published = lambda_client.publish_version(FunctionName=function_name)["Version"]

    second = _publish(lambda_client, function_name, {"python/which.py": "VALUE = 'version 2'\n"})
    lambda_client.update_function_configuration(FunctionName=function_name, Layers=[second])
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name)
    assert _invoke(lambda_client, function_name) == "version 2"

    lambda_client.delete_layer_version(LayerName=function_name, VersionNumber=1)
    assert _invoke(lambda_client, function_name, published) == "version 1"
    config = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier=published)
    assert [layer["Arn"] for layer in config["Layers"]] == [first]


def test_a_custom_runtime_bootstrap_from_a_layer(lambda_client: Any, create_function: Any, function_name: str) -> None:
    layer = _publish(lambda_client, function_name, {"bootstrap": CUSTOM_BOOTSTRAP}, executable=("bootstrap",))
    create_function(
        {"README": "the runtime is in a layer"}, handler="my.handler", runtime="provided.al2023", Layers=[layer]
    )
    reply = _invoke(lambda_client, function_name)
    assert reply["handler"] == "my.handler"
    assert reply["root"] == "/var/task"


def test_layers_with_the_process_backend(start_server: Callable[..., FireboxServer], function_name: str) -> None:
    server = start_server("--sandbox", "process")
    client = server.client()
    layer = _publish(client, function_name, LAYER_FILES, executable=("bin/layer-tool",))
    client.create_function(
        FunctionName=function_name,
        Runtime=PYTHON_VERSION,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": USES_LAYER})},
        Layers=[layer],
    )
    reply = _invoke(client, function_name)
    opt = reply["opt"]
    assert opt != "/opt"  # no mounts: the layers stay where the worker unpacked them
    assert reply["module"] == f"{opt}/python/from_layer.py"
    assert reply["values"] == ["from /opt/python", "from site-packages"]
    assert reply["data"] == "configured by a layer"
    assert reply["path"][1:] == [f"{opt}/python/lib/{PYTHON_VERSION}/site-packages", f"{opt}/python"]
    assert reply["tool"] == "tool ran\n"
    assert f"{opt}/lib" in reply["library_path"]

    bootstrap = _publish(client, f"{function_name}-runtime", {"bootstrap": CUSTOM_BOOTSTRAP}, executable=("bootstrap",))
    client.create_function(
        FunctionName=f"{function_name}-custom",
        Runtime="provided.al2023",
        Role=ROLE,
        Handler="my.handler",
        Code={"ZipFile": make_zip({"README": "the runtime is in a layer"})},
        Layers=[bootstrap],
    )
    assert _invoke(client, f"{function_name}-custom")["handler"] == "my.handler"
