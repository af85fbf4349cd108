"""Requests no SDK would send: malformed bodies, wrong JSON types, unknown paths and methods.

Each gets a clean 4xx in AWS's error shape (x-amzn-ErrorType, a JSON message), never a 500, and the server
log shows no traceback.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import ROLE
from tests.server_process import FireboxServer

FUNCTIONS = "/2015-03-31/functions"
GOOD = {
    "FunctionName": "never-created",
    "Runtime": "python3.11",
    "Role": ROLE,
    "Handler": "app.handler",
    "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
}


@dataclass(frozen=True)
class Answer:
    status: int
    error_type: str
    body: bytes

    @property
    def message(self) -> str:
        document = json.loads(self.body)
        return str(document.get("message") or document.get("Message"))


def _send(
    server: FireboxServer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {**({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})}
        signed = server.signed_request(method, path, body or b"", headers)
        connection.request(method, path, body=body, headers=dict(signed.header_items()))
        reply = connection.getresponse()
        return Answer(reply.status, reply.getheader("x-amzn-ErrorType", ""), reply.read())
    finally:
        connection.close()


def _with(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


@pytest.fixture
def quiet_log(server: FireboxServer) -> Iterator[None]:
    """Fails the test if the server logged a traceback while it ran."""
    before = len(server.log())
    yield
    written = server.log()[before:]
    assert "Traceback" not in written, written
    assert " ERROR " not in written, written


BAD_BODIES = {
    "not-json": b"{not json",
    "truncated": b'{"FunctionName": "x", ',
    "array": b"[1, 2, 3]",
    "null": b"null",
    "string": b'"CreateFunction"',
    "not-utf8": b"\xff\xfe\xfd",
    "deep": b'{"Code": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "name-number": _with(FunctionName=5),
    "memory-string": _with(MemorySize="big"),
    "memory-float": _with(MemorySize=128.5),
    "memory-huge": _with(MemorySize=10**30),
    "timeout-bool": _with(Timeout=True),
    "code-string": _with(Code="UEsFBg=="),
    "zip-not-base64": _with(Code={"ZipFile": "!!! not base64 !!!"}),
    "zip-number": _with(Code={"ZipFile": 12}),
    "variables-list": _with(Environment={"Variables": ["A=1"]}),
    "variable-number": _with(Environment={"Variables": {"AB": 5}}),
    "architectures-string": _with(Architectures="x86_64"),
    "publish-string": _with(Publish="yes"),
    "storage-string": _with(EphemeralStorage="big"),
    "tags-list": _with(Tags=["a"]),
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
@pytest.mark.usefixtures("quiet_log")
def test_a_malformed_create_body_is_a_clean_400(server: FireboxServer, body: bytes) -> None:
    answer = _send(server, "POST", FUNCTIONS, body)
    assert answer.status == 400, answer
    assert answer.error_type in ("InvalidRequestContentException", "ValidationException"), answer
    assert answer.message
    assert _send(server, "GET", f"{FUNCTIONS}/never-created").status == 404


@pytest.mark.usefixtures("quiet_log")
def test_an_empty_create_body_names_every_missing_member(server: FireboxServer) -> None:
    answer = _send(server, "POST", FUNCTIONS, b"")
    assert (answer.status, answer.error_type) == (400, "ValidationException")
    assert answer.message.startswith("3 validation errors detected: ")
    for member in ("functionName", "role", "code"):
        assert f"Value null at '{member}' failed to satisfy constraint: Member must not be null" in answer.message


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nothing/here"),
        ("GET", "/2015-03-31/functions/some-name/nothing"),
        ("PATCH", FUNCTIONS),
        ("DELETE", FUNCTIONS),
        ("PUT", FUNCTIONS + "/some-name"),
        ("POST", "/2015-03-31/functions/some-name/configuration"),
        ("GET", "/firebox/code/not-a-digest.zip"),
        ("GET", "/firebox/code/" + "0" * 64 + ".zip"),
        ("POST", "/firebox/health/more"),
        ("GET", "/2015-03-31/functions/%0A/policy"),  # a newline in the path: aiohttp's route once missed it
    ],
)
@pytest.mark.usefixtures("quiet_log")
def test_unknown_paths_and_methods_are_a_clean_4xx(server: FireboxServer, method: str, path: str) -> None:
    answer = _send(server, method, path, b"{}" if method in ("POST", "PUT", "PATCH") else None)
    assert 400 <= answer.status < 500, answer
    assert answer.error_type, answer
    assert answer.message


@pytest.mark.parametrize(
    ("query", "error_type"),
    [
        ("MaxItems=abc", "InvalidRequestContentException"),
        ("MaxItems=0", "ValidationException"),
        ("MaxItems=10001", "ValidationException"),
        ("FunctionVersion=SOME", "ValidationException"),
        ("MasterRegion=nowhere", "ValidationException"),
    ],
)
@pytest.mark.usefixtures("quiet_log")
def test_bad_query_parameters_are_a_clean_400(server: FireboxServer, query: str, error_type: str) -> None:
    answer = _send(server, "GET", f"{FUNCTIONS}?{query}")
    assert (answer.status, answer.error_type) == (400, error_type), answer


@pytest.mark.parametrize(
    "path",
    [
        FUNCTIONS + "/%ff%fe",
        FUNCTIONS + "/has%20space",
        FUNCTIONS + "/" + "n" * 300,
        FUNCTIONS + "/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aname%3Aq%3Aextra",
        FUNCTIONS + "/name?Qualifier=%24NOPE",
    ],
    ids=["not-utf8", "space", "long", "extra-colon", "qualifier"],
)
@pytest.mark.usefixtures("quiet_log")
def test_bad_function_names_in_paths_are_a_clean_4xx(server: FireboxServer, path: str) -> None:
    answer = _send(server, "GET", path)
    assert 400 <= answer.status < 500, answer
    assert answer.error_type in (
        "ValidationException",
        "InvalidParameterValueException",
        "ResourceNotFoundException",
    ), answer


@pytest.mark.parametrize("encoded", ["name%2Fpart", "name%2541"], ids=["slash", "percent"])
@pytest.mark.usefixtures("quiet_log")
def test_a_name_in_the_path_is_decoded_exactly_once(server: FireboxServer, encoded: str) -> None:
    answer = _send(server, "GET", f"{FUNCTIONS}/{encoded}")
    assert (answer.status, answer.error_type) == (400, "ValidationException"), answer
    assert "at 'functionName' failed to satisfy constraint" in answer.message


@pytest.mark.usefixtures("quiet_log")
def test_a_wrong_type_on_update_is_a_clean_400(server: FireboxServer) -> None:
    for body in (b'{"MemorySize": "x"}', b'{"Environment": 5}', b"[]", b"{"):
        answer = _send(server, "PUT", f"{FUNCTIONS}/no-such-function/configuration", body)
        assert answer.status == 400, (body, answer)
        assert answer.error_type == "InvalidRequestContentException", (body, answer)


@pytest.mark.usefixtures("quiet_log")
def test_a_signed_header_that_is_not_ascii_is_read_as_it_was_signed(server: FireboxServer) -> None:
    # botocore signs the text and sends it as Latin-1 bytes; aiohttp reads bytes as UTF-8.
    answer = _send(server, "GET", f"{FUNCTIONS}/never-created", headers={"X-Amz-Client-Context": "caf\xe9"})
    assert (answer.status, answer.error_type) == (404, "ResourceNotFoundException"), answer


@pytest.mark.usefixtures("quiet_log")
def test_a_client_context_that_is_not_even_ascii_is_a_clean_400(server: FireboxServer) -> None:
    answer = _send(
        server, "POST", f"{FUNCTIONS}/never-created/invocations", b"{}", {"X-Amz-Client-Context": "\xf4\x8d"}
    )
    assert (answer.status, answer.error_type) == (400, "InvalidRequestContentException"), answer


@pytest.mark.usefixtures("quiet_log")
def test_a_request_that_is_not_http_is_refused_without_a_traceback(server: FireboxServer) -> None:
    answer = _send(server, "GET", f"{FUNCTIONS}/never-created", headers={"X-Amz-Client-Context": "a\x08b"})
    assert answer.status == 400, answer
