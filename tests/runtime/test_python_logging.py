"""Function logs written by the Python runtime client: AWS's line format, one line per record."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .bootstrap_harness import PYTHONS, Invocation, assert_served_all, run, write

APP = """
import logging

logger = logging.getLogger()
logger.warning("during init")

def handler(event, context):
    logger.debug("debug")
    logger.info("info")
    logger.warning("two\\nlines")
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")
    print("printed\\nas is")
    return None
"""
_TEXT_LINE = re.compile(r"\[(\w+)\]\t(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z\t([\w-]*)\t(.*)")


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    write(root, "app.py", APP)
    return root


@pytest.mark.parametrize("python", PYTHONS)
def test_text_records_are_single_utc_lines_with_the_request_id(python: str, task_root: Path) -> None:
    # A zone far from UTC: timestamps must still be UTC, as on AWS.
    env = {"TZ": "Asia/Tokyo"}
    result = run(python, task_root, "app.handler", [Invocation("req-1")], env=env)

    assert_served_all(result)
    lines = result.stdout.split("\n")
    records = [match.groups() for match in map(_TEXT_LINE.fullmatch, lines) if match]
    assert [(level, request_id, message.split("\r")[0]) for level, _, request_id, message in records] == [
        ("WARNING", "", "during init"),  # no invoke yet, so no request id
        ("WARNING", "req-1", "two"),
        ("ERROR", "req-1", "lookup failed"),
    ]
    assert records[1][3] == "two\rlines"
    assert records[2][3].startswith("lookup failed\rTraceback (most recent call last):\r")
    assert records[2][3].endswith("\rKeyError: 'missing'")
    now = datetime.now(UTC).replace(tzinfo=None)
    for _, stamp, _, _ in records:
        assert abs(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f") - now) < timedelta(minutes=1)
    # print() is not logging: its newlines stay.
    assert "printed\nas is\n" in result.stdout


def test_log_level_comes_from_the_environment(task_root: Path) -> None:
    env = {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
    result = run(sys.executable, task_root, "app.handler", [Invocation("req-1")], env=env)

    assert_served_all(result)
    levels = [match[1] for match in map(_TEXT_LINE.fullmatch, result.stdout.split("\n")) if match]
    assert levels == ["WARNING", "DEBUG", "INFO", "WARNING", "ERROR"]


def test_json_log_format(task_root: Path) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    write(
        task_root,
        "json_app.py",
        """
        import logging

        def handler(event, context):
            logging.getLogger("app").info("hello %s", "there", extra={"order": 7})
            logging.getLogger().warning({"structured": True})
            raise ValueError("boom")
        """,
    )
    invocations = [Invocation("req-1")]
    result = run(sys.executable, task_root, "json_app.handler", invocations, env=env)

    assert_served_all(result)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    for record in records:
        datetime.strptime(record.pop("timestamp"), "%Y-%m-%dT%H:%M:%SZ")
    assert records[0] == {
        "level": "INFO",
        "message": "hello there",
        "logger": "app",
        "requestId": "req-1",
        "order": 7,
    }
    assert records[1] == {
        "level": "WARNING",
        "message": {"structured": True},
        "logger": "root",
        "requestId": "req-1",
    }
    error = records[2]
    assert (error["level"], error["errorType"], error["errorMessage"], error["requestId"]) == (
        "ERROR",
        "ValueError",
        "boom",
        "req-1",
    )
    assert len(records) == 3
