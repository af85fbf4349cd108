"""A fuzz pass over every operation of the Lambda, SQS and CloudWatch Logs APIs: hostile requests get clean
client errors.

Each operation gets requests built from botocore's model of it, filled with wrong types, malformed and
oversized bodies, names that climb out of directories and zips that explode or escape (see requests.py).
Every answer must be a 2xx or a 4xx with an AWS error type; after the pass, a function made beforehand must
be exactly as it was (before and after a restart), the server must have logged no traceback, and no file
named by the fuzz may exist outside the data directory.
"""

from __future__ import annotations

import http.client
import itertools
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from firebox.frontend.app import MAX_REQUEST_BYTES
from tests.conftest import ROLE
from tests.fuzz.strategies import (
    MARKER,
    SERVICES,
    HostileRequest,
    firebox_requests,
    fuzz_settings,
    hostile_packages,
    probe_for,
    requests_for,
)
from tests.server_process import FireboxServer
from tests.zips import make_zip

EXAMPLES = int(os.environ.get("FIREBOX_FUZZ_EXAMPLES", "40"))  # requests per operation Firebox serves
UNSERVED_EXAMPLES = 3  # an operation it does not serve must be refused cleanly too, but there is less to find
# What each protocol answers for an operation Firebox does not serve.
NOT_SERVED = {
    "UnknownOperationException",
    "InvalidAction",
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
}
CASES = [
    (service, protocol, name)
    for service, protocols in (("lambda", ["rest-json"]), ("sqs", ["json", "query"]), ("logs", ["json"]))
    for protocol in protocols
    for name in sorted(SERVICES[service].operation_names)
]
PACKAGES = int(os.environ.get("FIREBOX_FUZZ_PACKAGES", "25"))  # hostile zips deployed (as function and layer)
CANARY = "fuzz-canary"
# The handler of every hostile package: where can the function reach from /var/task and /opt?
LISTER = """import os
def handler(event, context):
    reached = []
    for root in ("/var/task", "/opt"):
        for folder, dirs, files in os.walk(root):
            reached += [os.path.realpath(os.path.join(folder, name)) for name in dirs + files]
    return reached
"""


class Target:
    """A server of the fuzz's own, and one keep-alive connection that sends signed raw requests to it."""

    def __init__(self, server: FireboxServer) -> None:
        self.server = server
        keys = server.credentials
        self._credentials = Credentials(keys["aws_access_key_id"], keys["aws_secret_access_key"])
        self._connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def close(self) -> None:
        self._connection.close()

    def send(self, request: HostileRequest, service: str) -> tuple[int, dict[str, str], bytes]:
        signed = AWSRequest(request.method, self.server.endpoint + request.path, request.headers, request.body)
        SigV4Auth(self._credentials, service, "us-east-1").add_auth(signed)
        try:
            self._connection.request(request.method, request.path, request.body, dict(signed.headers))
            reply = self._connection.getresponse()
            body = reply.read()
        except (http.client.HTTPException, ConnectionError):
            # The server may close a connection after refusing a request it could not parse: start afresh.
            self._connection.close()
            raise
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, body


def _canary_state(client: Any) -> dict[str, Any]:
    """What the fuzz must not change of the function made before it."""
    configuration = client.get_function_configuration(FunctionName=CANARY)
    for volatile in ("ResponseMetadata", "State", "StateReason", "StateReasonCode", "LastUpdateStatus"):
        configuration.pop(volatile, None)
    return {
        "configuration": configuration,
        "alias": client.get_alias(FunctionName=CANARY, Name="live")["FunctionVersion"],
        "tags": client.list_tags(Resource=configuration["FunctionArn"])["Tags"],
        "policy": client.get_policy(FunctionName=CANARY)["Policy"],
        "answer": client.invoke(FunctionName=CANARY, Payload=b'{"ok": 1}')["Payload"].read(),
    }


def _files_named_by_the_fuzz(data_dir: Path) -> list[str]:
    found = subprocess.run(
        ["find", "/", "-xdev", "(", "-path", "/proc", "-o", "-path", str(data_dir), ")", "-prune", "-o",
         "-name", f"*{MARKER}*", "-print"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.split()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    server = FireboxServer(data_dir, "--keep-alive", "5", "--async-retry-delay", "1").start()
    client = server.client()
    function = client.create_function(
        FunctionName=CANARY,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    return event\n"})},
        Environment={"Variables": {"KEPT": "yes"}},
        Tags={"team": "fuzz"},
    )
    client.publish_version(FunctionName=CANARY)
    client.create_alias(FunctionName=CANARY, Name="live", FunctionVersion="1")
    client.add_permission(
        FunctionName=CANARY, StatementId="s1", Action="lambda:InvokeFunction", Principal="123456789012"
    )
    assert function["FunctionName"] == CANARY
    before = _canary_state(client)
    target = Target(server)
    try:
        yield target
        target.close()
        assert _canary_state(client) == before
        assert "Traceback" not in server.log(), server.log()[-4000:]
        server.stop()
        server.start()
        restarted = server.client()
        assert _canary_state(restarted) == before
        listed = restarted.get_paginator("list_functions").paginate().build_full_result()["Functions"]
        assert CANARY in {f["FunctionName"] for f in listed}
    finally:
        target.close()
        if server.process is not None and server.process.poll() is None:
            server.stop()
    assert _files_named_by_the_fuzz(data_dir) == []


def _error_type(headers: dict[str, str], body: bytes) -> str:
    """The AWS error type of a reply, whichever protocol it speaks (the query protocol answers in XML)."""
    if body.startswith(b"<"):
        found = re.search(rb"<Code>([^<]+)</Code>", body)
        return found.group(1).decode() if found else ""
    document = msgspec.json.decode(body) if body else {}
    return str(headers.get("x-amzn-errortype") or document.get("Type") or document.get("__type") or "")


def _not_http(request: HostileRequest) -> bool:
    """A request the HTTP layer refuses with a plain 400 before it is a Lambda request at all, as AWS's own
    front door does: a request line or header longer than it reads (8190 bytes, as most servers), or a
    header value with a control character in it (RFC 9110 forbids them)."""
    too_long = len(request.path) > 8000 or any(len(k) + len(v) > 8000 for k, v in request.headers.items())
    return too_long or any((ord(c) < 32 and c != "\t") or c == "\x7f" for v in request.headers.values() for c in v)


def _assert_clean(request: HostileRequest, status: int, headers: dict[str, str], body: bytes) -> None:
    """A success, or a client error that says which (the HTTP layer's own refusals aside)."""
    assert status < 500, f"{status} {body[:500]!r}"
    if status >= 400 and not (status == 400 and _not_http(request)):
        assert _error_type(headers, body), f"{status} without an error type: {body[:300]!r}"


@pytest.mark.parametrize(("service", "protocol", "operation_name"), CASES)
def test_hostile_requests_get_clean_client_errors(
    target: Target, service: str, protocol: str, operation_name: str
) -> None:
    operation = SERVICES[service].operation_model(operation_name)
    _, headers, body = target.send(probe_for(operation, protocol), service)
    served = _error_type(headers, body).rpartition("#")[2] not in NOT_SERVED

    @fuzz_settings(EXAMPLES if served else UNSERVED_EXAMPLES)
    @given(requests_for(operation, protocol))
    def check(request: HostileRequest) -> None:
        status, headers, body = target.send(request, service)
        _assert_clean(request, status, headers, body)

    check()


@fuzz_settings(EXAMPLES * 5)
@given(request=firebox_requests())
def test_firebox_endpoints_answer_hostile_requests_cleanly(target: Target, request: HostileRequest) -> None:
    status, headers, body = target.send(request, "lambda")
    _assert_clean(request, status, headers, body)
    if status == 200 and request.path == "/firebox/keys" and request.method == "POST":
        made = msgspec.json.decode(body)
        target.send(HostileRequest("DELETE", f"/firebox/keys/{made['AccessKeyId']}", {}, b""), "lambda")


def _refused_cleanly(call: Callable[[], Any]) -> Any:
    """The call's result, or None if the server refused it with a client error (anything else fails)."""
    try:
        return call()
    except ClientError as refused:
        status = refused.response["ResponseMetadata"]["HTTPStatusCode"]
        assert 400 <= status < 500, refused.response
        return None


def test_hostile_packages_are_refused_or_stay_inside_their_directories(target: Target) -> None:
    client = target.server.client()
    names = itertools.count()

    @fuzz_settings(PACKAGES)
    @given(hostile_packages(LISTER), st.lists(hostile_packages(LISTER), max_size=3))
    def check(code: bytes, layer_contents: list[bytes]) -> None:
        name = f"fuzz-package-{next(names)}"
        layers = []
        for content in layer_contents:  # later layers' files land over earlier ones' in /opt
            publish = partial(client.publish_layer_version, LayerName=name, Content={"ZipFile": content})
            layer = _refused_cleanly(publish)
            layers += [layer["LayerVersionArn"]] if layer else []
        created = _refused_cleanly(
            lambda: client.create_function(
                FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": code},
                Layers=layers,
            )
        )  # fmt: skip
        if created is None:
            return
        reply = client.invoke(FunctionName=name)
        reached = msgspec.json.decode(reply["Payload"].read())
        client.delete_function(FunctionName=name)
        assert "FunctionError" not in reply, reached
        outside = [path for path in reached if not path.startswith(("/var/task", "/opt"))]
        assert outside == []

    check()


@pytest.mark.parametrize(
    ("service", "request_"),
    [
        ("lambda", HostileRequest("POST", "/2018-10-31/layers/big/versions", {}, b"")),
        ("sqs", HostileRequest("POST", "/", {"X-Amz-Target": "AmazonSQS.SendMessage"}, b"")),
        ("sqs", HostileRequest("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"")),
        ("logs", HostileRequest("POST", "/", {"X-Amz-Target": "Logs_20140328.FilterLogEvents"}, b"")),
    ],
    ids=["lambda", "sqs-json", "sqs-query", "logs"],
)
def test_a_body_over_the_request_limit_is_refused_whole(target: Target, service: str, request_: HostileRequest) -> None:
    request_.body = b"{" + b" " * MAX_REQUEST_BYTES + b"}"
    status, headers, body = target.send(request_, service)
    assert status == 413, body[:300]
    assert _error_type(headers, body)


@pytest.mark.parametrize(
    "headers",
    [{"X-Filler": "v" * 100_000}, {f"X-Filler-{n}": "v" * 1000 for n in range(200)}],
    ids=["one-huge", "too-many"],
)
def test_huge_headers_are_refused_cleanly(target: Target, headers: dict[str, str]) -> None:
    # The HTTP layer's bounds: a header of 8190 bytes at most, and 128 of them.
    status, _, body = target.send(HostileRequest("GET", "/2015-03-31/functions", headers, b""), "lambda")
    assert status == 400, body[:300]
    status, _, _ = target.send(HostileRequest("GET", "/2015-03-31/functions", {}, b""), "lambda")
    assert status == 200  # on a new connection: the server is not hurt
