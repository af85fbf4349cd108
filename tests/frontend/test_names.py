"""Function names, partial and full ARNs, with and without qualifiers."""

from __future__ import annotations

import pytest

from firebox.errors import InvalidParameter
from firebox.frontend.names import new_function_name, split_function_name, unqualified_name

FULL = "arn:aws:lambda:us-east-1:000000000000:function:"


@pytest.mark.parametrize(
    ("value", "qualifier", "expected"),
    [
        ("my-func_1", None, ("my-func_1", None)),
        ("my-func:live", None, ("my-func", "live")),
        ("my-func", "7", ("my-func", "7")),
        ("000000000000:function:my-func", None, ("my-func", None)),
        (FULL + "my-func", None, ("my-func", None)),
        (FULL + "my-func:$LATEST", None, ("my-func", "$LATEST")),
        (FULL + "my-func:3", "3", ("my-func", "3")),
        ("n" * 100, None, ("n" * 100, None)),  # not found later, never a malformed name
    ],
)
def test_split_function_name(value: str, qualifier: str | None, expected: tuple[str, str | None]) -> None:
    assert split_function_name(value, qualifier) == expected


@pytest.mark.parametrize(
    ("value", "qualifier"),
    [("my func", None), ("my-func:1:2", None), (FULL + "my-func:1", "2"), ("", None), ("func:", None)],
)
def test_split_function_name_refuses(value: str, qualifier: str | None) -> None:
    with pytest.raises(InvalidParameter):
        split_function_name(value, qualifier)


def test_unqualified_name_refuses_a_qualifier() -> None:
    assert unqualified_name(FULL + "f") == "f"
    with pytest.raises(InvalidParameter):
        unqualified_name("f:1")


def test_a_new_name_is_at_most_64_characters() -> None:
    assert new_function_name("n" * 64) == "n" * 64
    assert new_function_name(FULL + "n" * 64) == "n" * 64
    with pytest.raises(InvalidParameter, match="Member must have length less than or equal to 64"):
        new_function_name("n" * 65)
