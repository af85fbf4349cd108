"""ListFunctions paging and GetAccountSettings usage, on a server of the test's own so the totals are exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import ROLE
from tests.server_process import FireboxServer
from tests.zips import make_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def test_list_functions_pages_through_every_function_once(start_server: Callable[..., FireboxServer]) -> None:
    client = start_server().client()
    assert client.list_functions()["Functions"] == []
    assert client.get_account_settings()["AccountUsage"] == {"FunctionCount": 0, "TotalCodeSize": 0}
    names = [f"listed-{i}" for i in (3, 0, 6, 1, 5, 2, 4)]  # created out of order on purpose
    sizes: dict[str, int] = {}
    for name in names:
        code = make_zip({"app.py": f"def handler(event, context):\n    return {name!r}\n"})
        sizes[name] = len(code)
        client.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": code}
        )
    client.publish_version(FunctionName="listed-0")

    pages: list[list[str]] = []
    kwargs: dict[str, Any] = {"MaxItems": 2}
    while True:
        page = client.list_functions(**kwargs)
        pages.append([f["FunctionName"] for f in page["Functions"]])
        for function in page["Functions"]:
            assert function["FunctionArn"] == ARN + function["FunctionName"]
            assert function["Version"] == "$LATEST"
            assert function["CodeSize"] == sizes[function["FunctionName"]]
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    listed = [name for page in pages for name in page]
    assert listed == sorted(names)

    whole = client.list_functions()
    assert [f["FunctionName"] for f in whole["Functions"]] == listed
    assert "NextMarker" not in whole
    paginated = client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3})
    assert [f["FunctionName"] for page in paginated for f in page["Functions"]] == listed
    capped = client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2, "MaxItems": 5})
    assert [f["FunctionName"] for page in capped for f in page["Functions"]] == listed[:5]

    every_version = client.list_functions(FunctionVersion="ALL")["Functions"]
    assert [(f["FunctionName"], f["Version"]) for f in every_version][:3] == [
        ("listed-0", "$LATEST"),
        ("listed-0", "1"),
        ("listed-1", "$LATEST"),
    ]
    assert every_version[1]["FunctionArn"] == ARN + "listed-0:1"

    usage = client.get_account_settings()["AccountUsage"]
    assert usage == {"FunctionCount": 7, "TotalCodeSize": sum(sizes.values()) + sizes["listed-0"]}
