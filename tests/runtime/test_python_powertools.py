"""Powertools for AWS Lambda, bundled in the function's code as in a deployment zip, sees a Lambda context."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from .bootstrap_harness import PYTHONS, Invocation, assert_served_all, run, write

# Powertools 3 needs Python 3.10 or later.
POWERTOOLS_PYTHONS = [param for param in PYTHONS if param.id != "py3.9"]


def _bundle(task_root: Path, module: str) -> None:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    if spec.submodule_search_locations:
        source = Path(next(iter(spec.submodule_search_locations)))
        shutil.copytree(source, task_root / source.name)
    else:
        shutil.copy2(spec.origin, task_root)


@pytest.mark.parametrize("python", POWERTOOLS_PYTHONS)
def test_powertools_logger_inject_lambda_context(python: str, tmp_path: Path) -> None:
    task_root = tmp_path / "task"
    task_root.mkdir()
    for module in ("aws_lambda_powertools", "jmespath", "typing_extensions"):
        _bundle(task_root, module)
    write(
        task_root,
        "app.py",
        """
        import aws_lambda_powertools
        from aws_lambda_powertools import Logger

        logger = Logger(service="orders")

        @logger.inject_lambda_context
        def handler(event, context):
            logger.info("processing", order=event["order"])
            return {"powertools": aws_lambda_powertools.__file__}
        """,
    )
    result = run(python, task_root, "app.handler", [Invocation("req-1", {"order": 7})])

    assert_served_all(result)
    assert not [post for post in result.posts if post.path.endswith("/error")]
    response = result.post_to("/req-1/response").json()
    assert response == {"powertools": str(task_root / "aws_lambda_powertools" / "__init__.py")}
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, result.stdout
    record = lines[0]
    assert record["message"] == "processing"
    assert record["service"] == "orders"
    assert record["order"] == 7
    assert record["cold_start"] is True
    assert record["function_request_id"] == "req-1"
    assert record["function_name"] == "fn"
    assert record["function_memory_size"] == "256"
    assert record["function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
