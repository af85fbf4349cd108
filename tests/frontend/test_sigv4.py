"""Firebox's SigV4 computation agrees with botocore's signer on every request it is given."""

from __future__ import annotations

from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from firebox.frontend import sigv4
from tests.fuzz.strategies import fuzz_settings

_SEGMENT = st.one_of(
    st.sampled_from(["", ".", "..", "~user", "a%2Fb", "%25", "name", "2015-03-31", "functions"]),
    st.text(alphabet="abcXYZ019-_.~%!$'()*+,;=:@", max_size=8),
)
_PATHS = st.lists(_SEGMENT, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))
_QUERY_TEXT = st.text(alphabet="abAB01-_.~%=+", max_size=6)
_QUERIES = st.lists(st.tuples(_QUERY_TEXT, _QUERY_TEXT), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)
_HEADER_NAMES = st.sampled_from(["content-type", "x-amz-date", "x-amz-target", "x-custom", "content-length"])
_HEADER_VALUES = st.text(alphabet="ab c\t/=;,:  é", max_size=12)
_HEADERS = st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=6)


@fuzz_settings(500)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "patch"]),
    path=_PATHS,
    query=_QUERIES,
    headers=_HEADERS,
    body=st.binary(max_size=64),
    secret=st.text(alphabet="abcXYZ0189+/", min_size=1, max_size=40),
)
def test_the_canonical_request_and_signature_are_botocores(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, secret: str
) -> None:
    amz_date = "20261204T120000Z"
    pairs = [("host", "127.0.0.1:8080"), *headers]
    url = f"http://127.0.0.1:8080{path}" + (f"?{query}" if query else "")
    request: Any = AWSRequest(method=method, url=url, headers=HTTPHeaders.from_pairs(pairs), data=body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", secret), "lambda", "us-east-1")
    expected = signer.canonical_request(request)

    names = list(dict.fromkeys(name for name, _ in pairs))
    values = [(name, [value for n, value in pairs if n == name]) for name in names]
    payload = sigv4.EMPTY_SHA256 if not body else signer.payload(request)
    canonical = sigv4.canonical_request(method, path, query, values, payload)
    assert canonical == expected
    ours = sigv4.signature(secret, amz_date, "us-east-1", "lambda", canonical)
    assert ours == signer.signature(signer.string_to_sign(request, expected), request)
