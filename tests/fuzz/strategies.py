"""Hypothesis strategies for hostile requests to Firebox's APIs, shaped by botocore's models of them, and for
hostile deployment packages.

Each request aims at one modelled operation (its method and path), then fills it with what a careless or
hostile client might send: values of the right type and of every wrong one, names that climb out of
directories, text far past every limit, bodies that are not JSON, and zips that explode or point outside
themselves. Most values are near-misses of valid ones, so that requests get past the first check.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import zipfile
from typing import Any
from urllib.parse import quote, urlencode

import botocore.model
import botocore.session
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.zips import make_zip

MODEL_STRING = botocore.model.StringShape("FuzzString", {"type": "string"})
SERVICES = {name: botocore.session.get_session().get_service_model(name) for name in ("lambda", "sqs", "logs")}
# Every hostile name carries this, so a file it made anywhere can be searched for afterwards (new each run:
# the data directories of earlier runs may still be there, holding it as they should).
MARKER = f"fbxfuzz{secrets.token_hex(4)}"

# The same examples on every run unless FIREBOX_FUZZ_RANDOM is set: CI then checks a fixed set (which a fix
# must keep passing), and a search for new failures is a run of its own, with as many examples as it likes.
_RANDOM = bool(os.environ.get("FIREBOX_FUZZ_RANDOM"))


def fuzz_settings(examples: int) -> settings:
    """Hypothesis's settings for the fuzz: `examples` of them, against a live server (so no deadline, and no
    example database: the server of the next run is a new one)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not _RANDOM,
        suppress_health_check=list(HealthCheck),
    )


HOSTILE_TEXT = [
    "",
    " ",
    ".",
    "..",
    f"../../../../../../../tmp/{MARKER}",
    f"..\\..\\{MARKER}",
    f"{MARKER}/../../../../etc/passwd",
    f"/tmp/{MARKER}",
    f"{MARKER}\x00.zip",
    f"{MARKER}%2F..%2F..",
    f"arn:aws:lambda:us-east-1:000000000000:function:../{MARKER}",
    f"arn:aws:lambda:us-east-1:000000000000:function:{MARKER}:$LATEST",
    f"arn:aws:lambda:us-east-1:000000000000:layer:{MARKER}:1",
    f"arn:aws:sqs:us-east-1:000000000000:{MARKER}",
    "$LATEST",
    "*",
    "lambda:*",
    "\u202e\ufeff\U0001f525",
    "a" * 65,
    "a" * 10_000,
    "\ud800",  # a lone surrogate: valid JSON escape, not valid UTF-8
    "null",
    "{}",
]
HOSTILE_NUMBERS = [0, -1, 1, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30]


def _zips() -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            make_zip({"app.py": "def handler(event, context):\n    return event\n"}),
            make_zip({"python/mod.py": "x = 1\n"}),
            make_zip({f"../../{MARKER}.py": "x = 1\n"}),
            make_zip({f"/tmp/{MARKER}.py": "x = 1\n"}),
            make_zip({}, symlinks={"app.py": f"/tmp/{MARKER}"}),
            make_zip({}, symlinks={"lib": "../../../../"}),
            _ZIP_BOMB,
            b"PK\x03\x04" + b"\x00" * 64,
            b"not a zip",
            b"",
        ]
    )


def _zip_bomb() -> bytes:
    """Small on the wire, 300 MB unzipped: past Lambda's 250 MB."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("big.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(300):
            member.write(b"\x00" * (1 << 20))
    return buffer.getvalue()


_ZIP_BOMB = _zip_bomb()


def _text(shape: Shape) -> st.SearchStrategy[str]:
    choices: list[st.SearchStrategy[str]] = [st.sampled_from(HOSTILE_TEXT), st.text(max_size=80)]
    if shape.enum:
        choices.append(st.sampled_from(list(shape.enum)))
    pattern = shape.metadata.get("pattern")
    if pattern:
        with contextlib.suppress(re.error):  # some of the model's patterns are Java's dialect, not Python's
            choices.append(st.from_regex(re.compile(pattern), fullmatch=True).map(lambda s: s[:300]))
    return st.one_of(*choices)


def _any_json(depth: int = 3) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(HOSTILE_NUMBERS),
        st.integers(),
        st.floats(allow_nan=False),
        st.sampled_from(HOSTILE_TEXT),
        st.text(max_size=20),
    )
    if depth == 0:
        return leaves
    inner = _any_json(depth - 1)
    return st.one_of(leaves, st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3))


def value_of(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for `shape`: usually of its type, sometimes of any other."""
    return st.one_of(_typed(shape, depth), _any_json(1)) if depth < 4 else _any_json(0)


def _typed(shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "string":
        return _text(shape)
    if kind in ("integer", "long"):
        return st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.integers(-1000, 100_000))
    if kind in ("float", "double"):
        return st.floats(allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.one_of(st.integers(), st.text(max_size=30))
    if kind == "blob":
        return _zips().map(lambda data: base64.b64encode(data).decode())
    if kind == "list":
        return st.lists(value_of(shape.member, depth + 1), max_size=6)
    if kind == "map":
        return st.dictionaries(_text(shape.key), value_of(shape.value, depth + 1), max_size=6)
    if kind == "structure":
        members = {name: value_of(member, depth + 1) for name, member in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)  # type: ignore[arg-type]
    return _any_json(1)


class HostileRequest:
    # A plain class, not a dataclass: Hypothesis prints a dataclass field by field, whatever its size.
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path  # with its query string, percent-encoded as it goes on the wire
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:  # what a failing example prints: whole, it may run to megabytes
        return f"{self.method} {_clip(self.path)} headers={_clip(repr(self.headers))} body={_clip(repr(self.body))}"


def _clip(text: str, keep: int = 300) -> str:
    return text if len(text) <= keep else f"{text[:keep]}...({len(text)} characters)"


def probe_for(operation: OperationModel, protocol: str) -> HostileRequest:
    """The plainest request for `operation`: what it is answered tells whether Firebox serves it."""
    if protocol == "rest-json":
        labels = re.findall(r"\{([^}+]+)\+?\}", operation.http["requestUri"])
        return _rest_json(operation, dict.fromkeys(labels, "x"), {}, {}, b"{}", raw_labels=False)
    if protocol == "json":
        return HostileRequest("POST", "/", _json_headers(operation), b"{}")
    return _form(operation, {})


@st.composite
def requests_for(draw: st.DrawFn, operation: OperationModel, protocol: str) -> HostileRequest:
    """A request for `operation` in `protocol`: rest-json (Lambda), json (SQS, CloudWatch Logs) or query
    (SQS's older form-encoded one)."""
    if protocol == "rest-json":
        return _rest_json(
            operation,
            draw(_members(operation, "uri")),
            draw(_members(operation, "querystring")),
            draw(_members(operation, "header")),
            draw(_body(operation)),
            raw_labels=draw(st.booleans()),
        )
    if protocol == "json":
        return HostileRequest("POST", "/", _json_headers(operation), draw(_body(operation)))
    return _form(operation, draw(_members(operation, None)))


def _json_headers(operation: OperationModel) -> dict[str, str]:
    metadata = operation.service_model.metadata
    return {
        "X-Amz-Target": f"{metadata['targetPrefix']}.{operation.name}",
        "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
    }


def _form(operation: OperationModel, fields: dict[str, Any]) -> HostileRequest:
    form = [("Action", operation.name), ("Version", operation.service_model.api_version)]
    form += [(name, _text_of(value)) for name, value in fields.items()]
    body = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in form]).encode()
    return HostileRequest("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, body)


def _members(operation: OperationModel, location: str | None) -> st.SearchStrategy[dict[str, Any]]:
    shape = operation.input_shape
    if shape is None:
        return st.just({})
    chosen = {
        member.serialization.get("name", name): (_typed(member, 1) if location == "uri" else value_of(member, 1))
        for name, member in shape.members.items()
        if member.serialization.get("location") == location
    }
    if location == "uri":  # every label of the path must be there for the route to be found
        return st.fixed_dictionaries(chosen)
    return st.fixed_dictionaries({}, optional=chosen)  # type: ignore[arg-type]


def _body(operation: OperationModel) -> st.SearchStrategy[bytes]:
    shape = operation.input_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload is not None and shape is not None and shape.members[payload].type_name == "blob":
        json_bodies: st.SearchStrategy[Any] = _any_json()
    else:
        json_bodies = _members(operation, None)
    return st.one_of(
        # The standard library's encoder, which writes a lone surrogate as its \\u escape.
        json_bodies.map(lambda document: json.dumps(document).encode()),
        st.sampled_from([b"", b"{", b"[]", b'"text"', b"\xff\xfe", b"[" * 100_000, b'{"a":' * 10_000 + b"1"]),
        st.binary(max_size=200),
    )


def _percent(text: str, safe: str = "") -> str:
    """`text` percent-encoded as UTF-8, a lone surrogate included (as its three bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe=safe)


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _rest_json(
    operation: OperationModel,
    uri: dict[str, Any],
    query: dict[str, Any],
    headers: dict[str, Any],
    body: bytes,
    *,
    raw_labels: bool,
) -> HostileRequest:
    template, _, fixed = operation.http["requestUri"].partition("?")
    path = template
    for name, value in uri.items():
        text = _text_of(value) or "x"  # an empty label would name another route
        # As a client encodes it, or (sometimes) with its slashes left raw, to climb the path itself.
        encoded = _percent(text, safe="/" if raw_labels else "")
        path = path.replace(f"{{{name}}}", encoded).replace(f"{{{name}+}}", encoded)
    pairs = [tuple(pair.split("=", 1)) for pair in fixed.split("&") if "=" in pair]
    pairs += [(name, _text_of(value)) for name, value in query.items()]
    if pairs:
        path += "?" + urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs])
    wire_headers = {
        name: _text_of(value).encode("utf-8", "surrogatepass").decode("latin-1")
        for name, value in headers.items()
        if not {"\r", "\n", "\x00"} & set(_text_of(value))  # http.client refuses to send these at all
    }
    return HostileRequest(operation.http["method"], path, wire_headers, body)


# Mostly harmless parts, so that many packages pass the upload checks and are unpacked for real.
def firebox_requests() -> st.SearchStrategy[HostileRequest]:
    """Requests to Firebox's own endpoints (/firebox/...): keys, event fates, code downloads, health."""
    key_id = st.one_of(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16), st.just(""))
    paths = st.one_of(
        st.just("/firebox/keys"),
        key_id.map(lambda k: f"/firebox/keys/AKIA{k}"),
        st.sampled_from(HOSTILE_TEXT).map(
            lambda name: f"/firebox/events/{quote(name.encode('utf-8', 'surrogatepass'), safe='')}"
        ),
        st.tuples(
            st.sampled_from(["fuzz-canary", "x"]), st.sampled_from(["", "?limit=0", "?limit=x", "?limit=10"])
        ).map(lambda pair: f"/firebox/events/{pair[0]}{pair[1]}"),
        st.just("/firebox/code/" + "0" * 64 + ".zip"),
        st.just("/firebox/health"),
    )
    policies = st.one_of(_any_json(), _any_json().map(json.dumps))
    documents = st.fixed_dictionaries({}, optional={"Principal": _text(MODEL_STRING), "Policy": policies})
    bodies = st.one_of(documents.map(lambda d: json.dumps(d).encode()), st.binary(max_size=100), st.just(b""))
    return st.builds(HostileRequest, st.sampled_from(["GET", "POST", "DELETE", "PUT"]), paths, st.just({}), bodies)


_PATH_PARTS = ["..", ".", "", "a", "b", "python", "lib", "opt", "task", "tmp"]


def _hostile_path(marker: str) -> st.SearchStrategy[str]:
    parts = st.lists(st.sampled_from([*_PATH_PARTS, marker, marker]), min_size=1, max_size=5).map("/".join)
    return st.tuples(st.sampled_from(["", "", "", "./", "/"]), parts).map("".join)


@st.composite
def hostile_packages(draw: st.DrawFn, handler: str, marker: str = MARKER) -> bytes:
    """A zip of entries named to climb out of where they are unpacked, symlinks aimed anywhere, and `handler`
    as app.py (which must stay whatever else the zip holds). Many names carry `marker`."""
    path = _hostile_path(marker)
    entries = draw(st.dictionaries(path, st.one_of(st.none(), path), max_size=5))
    files: dict[str, str | bytes] = {name: marker for name, target in entries.items() if target is None}
    symlinks = {name: target for name, target in entries.items() if target is not None}
    files.pop("app.py", None)
    symlinks.pop("app.py", None)
    return make_zip({**files, "app.py": handler}, symlinks=symlinks)
