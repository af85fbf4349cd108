"""The Python runtime client against a scripted Runtime API, run as a real process under each interpreter."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

import firebox.runtime

from .bootstrap_harness import INIT_ERROR_PATH, PYTHONS, Invocation, assert_served_all, run, write

ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    return root


def test_public_surface() -> None:
    assert firebox.runtime.__all__ == ["PYTHON_BOOTSTRAP"]
    assert firebox.runtime.PYTHON_BOOTSTRAP.is_absolute()
    assert firebox.runtime.PYTHON_BOOTSTRAP.is_file()


# --- invokes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("python", PYTHONS)
def test_success_posts_json_result_with_context(python: str, task_root: Path) -> None:
    write(
        task_root,
        "app.py",
        """
        import os

        def handler(event, context):
            cc = context.client_context
            return {
                "event": event,
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "client": cc and [cc.client.installation_id, cc.client.app_title, cc.custom, cc.env],
                "w3c": context.w3c(),
                "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            }
        """,
    )
    client_context = {
        "client": {"installation_id": "inst-1", "app_title": "app"},
        "custom": {"k": "v"},
        "env": {"platform": "linux"},
        "w3c": {"traceparent": "00-abc-def-01", "other": "dropped"},
    }
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    first = Invocation(
        "req-1",
        {"n": 1, "s": "é"},
        headers={
            "Lambda-Runtime-Trace-Id": "Root=1-abc",
            "Lambda-Runtime-Client-Context": json.dumps(client_context),
            "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
        },
    )
    second = Invocation("req-2", [1, 2], deadline_ms=int(time.time() * 1000) - 10_000)

    result = run(python, task_root, "app.handler", [first, second])

    assert_served_all(result)
    one = result.post_to("/req-1/response").json()
    assert isinstance(one, dict)
    remaining = one.pop("remaining")
    assert 50_000 < remaining <= 60_000
    assert one == {
        "event": {"n": 1, "s": "é"},
        "aws_request_id": "req-1",
        "function_name": "fn",
        "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "memory_limit_in_mb": "256",  # a string, as AWS's runtime gives it
        "log_group_name": "/aws/lambda/fn",
        "log_stream_name": "2024/01/01/[$LATEST]0123456789abcdef",
        "client": ["inst-1", "app", {"k": "v"}, {"platform": "linux"}],
        "w3c": {"traceparent": "00-abc-def-01"},
        "identity": ["id-1", "pool-1"],
        "trace": "Root=1-abc",
    }
    two = result.post_to("/req-2/response").json()
    assert isinstance(two, dict)
    # No headers this time: no client context, an empty identity, the trace id gone, deadline passed.
    assert (two["event"], two["client"], two["identity"], two["trace"]) == ([1, 2], None, [None, None], None)
    assert two["remaining"] == 0
    # Every call rode one keep-alive connection.
    assert len(set(result.connection_ports)) == 1
    assert result.next_calls == 3


@pytest.mark.parametrize("python", PYTHONS)
def test_handler_exception_posts_aws_error_body(python: str, task_root: Path) -> None:
    app = write(
        task_root,
        "app.py",
        """
        def handler(event, context):
            raise ValueError("boom")
        """,
    )
    result = run(python, task_root, "app.handler", [Invocation("req-1")])

    assert_served_all(result)
    post = result.post_to("/req-1/error")
    assert post.headers[ERROR_TYPE] == "Unhandled"
    assert post.json() == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": [f'  File "{app}", line 2, in handler\n    raise ValueError("boom")\n'],
    }
    nbsp = "\u00a0"
    expected_log = (
        "[ERROR] ValueError: boom\rTraceback (most recent call last):\r"
        f'{nbsp * 2}File "{app}", line 2, in handler\r{nbsp * 4}raise ValueError("boom")\n'
    )
    assert expected_log in result.stdout


@pytest.mark.parametrize("python", PYTHONS)
def test_output_is_flushed_before_each_post(python: str, task_root: Path) -> None:
    write(
        task_root,
        "app.py",
        """
        import sys

        def handler(event, context):
            print("whole line")
            print("partial " + event, end="")
            sys.stderr.write("to stderr")
            if event == "fail":
                raise RuntimeError("failed")
            return event
        """,
    )
    result = run(python, task_root, "app.handler", [Invocation("req-1", "ok"), Invocation("req-2", "fail")])

    assert_served_all(result)
    assert result.post_to("/req-1/response").stdout_on_arrival == b"whole line\npartial ok"
    assert result.post_to("/req-2/error").stdout_on_arrival.startswith(
        b"whole line\npartial okwhole line\npartial fail[ERROR] RuntimeError: failed\r"
    )
    assert result.stderr.startswith("to stderrto stderr")


def test_results_that_json_cannot_write_are_marshal_errors(task_root: Path) -> None:
    write(
        task_root,
        "app.py",
        """
        import decimal

        def handler(event, context):
            if event == "set":
                return {1, 2}
            if event == "bytes":
                return b"raw \\xff"
            if event == "none":
                return None
            return [decimal.Decimal("10"), decimal.Decimal("1.5")]
        """,
    )
    events = ["set", "bytes", "none", "decimal"]
    result = run(sys.executable, task_root, "app.handler", [Invocation(f"req-{e}", e) for e in events])

    assert_served_all(result)
    error = result.post_to("/req-set/error")
    assert error.headers[ERROR_TYPE] == "Unhandled"
    assert error.json() == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "req-set",
        "stackTrace": [],
    }
    assert result.post_to("/req-bytes/response").body == b"raw \xff"
    assert result.post_to("/req-none/response").body == b"null"
    assert result.post_to("/req-decimal/response").body == b"[10, 1.5]"


def test_malformed_client_context_is_reported_for_that_invoke(task_root: Path) -> None:
    write(task_root, "app.py", "def handler(event, context):\n    return 1\n")
    broken = Invocation("req-1", headers={"Lambda-Runtime-Client-Context": "{not json"})
    result = run(sys.executable, task_root, "app.handler", [broken, Invocation("req-2")])

    assert_served_all(result)
    error = result.post_to("/req-1/error").json()
    assert isinstance(error, dict)
    assert error["errorType"] == "Runtime.LambdaContextUnmarshalError"
    assert error["errorMessage"].startswith("Unable to parse Client Context JSON: ")
    assert result.post_to("/req-2/response").body == b"1"


def test_payload_too_large_answer_is_not_fatal(task_root: Path) -> None:
    write(task_root, "app.py", "def handler(event, context):\n    return event\n")
    invocations = [Invocation("req-1", "x" * 1000), Invocation("req-2", "small")]
    result = run(sys.executable, task_root, "app.handler", invocations, post_status={"req-1": 413})

    assert_served_all(result)
    assert result.post_to("/req-2/response").body == b'"small"'


def test_connection_dropped_while_idle_is_reopened(task_root: Path) -> None:
    write(task_root, "app.py", "def handler(event, context):\n    return event\n")
    invocations = [Invocation("req-1", 1), Invocation("req-2", 2)]
    result = run(sys.executable, task_root, "app.handler", invocations, drop_after={"req-1"})

    assert_served_all(result)
    assert result.post_to("/req-2/response").body == b"2"
    ports = result.connection_ports  # GET and POST of req-1, then req-2's and the final GET
    assert len(set(ports[:2])) == 1 and len(set(ports[2:])) == 1 and ports[0] != ports[2]


def test_other_refused_post_ends_the_process(task_root: Path) -> None:
    write(task_root, "app.py", "def handler(event, context):\n    return event\n")
    invocations = [Invocation("req-1"), Invocation("req-2")]
    result = run(sys.executable, task_root, "app.handler", invocations, post_status={"req-1": 400})

    assert result.returncode == 1
    assert "POST /2018-06-01/runtime/invocation/req-1/response answered 400" in result.stderr
    # GET next went out with the response (pipelined), but nothing was served after the refusal.
    assert [post.path for post in result.posts] == ["/2018-06-01/runtime/invocation/req-1/response"]


@pytest.mark.parametrize("handler", ["pkg/sub/mod.handler", "pkg.sub.mod.handler"])
def test_handler_in_a_package(task_root: Path, handler: str) -> None:
    write(task_root, "pkg/__init__.py", "")
    write(task_root, "pkg/sub/__init__.py", "")
    write(task_root, "pkg/sub/mod.py", "def handler(event, context):\n    return __name__\n")
    result = run(sys.executable, task_root, handler, [Invocation("req-1")])

    assert_served_all(result)
    assert result.post_to("/req-1/response").json() == "pkg.sub.mod"


def test_user_code_sees_its_own_modules_not_the_runtimes(task_root: Path) -> None:
    # A user module named like one of ours, and sys.path as user code sees it.
    write(task_root, "bootstrap.py", "WHO = 'user'\n")
    write(
        task_root,
        "app.py",
        """
        import sys
        import bootstrap

        def handler(event, context):
            return {"who": bootstrap.WHO, "path": sys.path[:3]}
        """,
    )
    result = run(sys.executable, task_root, "app.handler", [Invocation("req-1")])

    assert_served_all(result)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert result.post_to("/req-1/response").json() == {
        "who": "user",
        "path": [str(task_root), f"/opt/python/lib/{version}/site-packages", "/opt/python"],
    }


# --- init errors -------------------------------------------------------------------------------------

INIT_ERRORS = [
    pytest.param(
        "missing.handler",
        {},
        "Runtime.ImportModuleError",
        "Unable to import module 'missing': No module named 'missing'",
        id="no-module",
    ),
    pytest.param(
        "app.handler",
        {"app.py": "import not_installed\n"},
        "Runtime.ImportModuleError",
        "Unable to import module 'app': No module named 'not_installed'",
        id="failing-import",
    ),
    pytest.param(
        "app.nothere",
        {"app.py": "def handler(event, context):\n    return 1\n"},
        "Runtime.HandlerNotFound",
        "Handler 'nothere' missing on module 'app'",
        id="no-function",
    ),
    pytest.param(
        "app",
        {},
        "Runtime.MalformedHandlerName",
        "Bad handler 'app': not enough values to unpack (expected 2, got 1)",
        id="no-dot",
    ),
    pytest.param(
        "sys.handler",
        {},
        "Runtime.BuiltInModuleConflict",
        "Cannot use built-in module sys as a handler module",
        id="builtin-module",
    ),
]


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize(("handler", "files", "error_type", "message"), INIT_ERRORS)
def test_init_errors(
    python: str, task_root: Path, handler: str, files: dict[str, str], error_type: str, message: str
) -> None:
    for name, source in files.items():
        write(task_root, name, source)
    result = run(python, task_root, handler)

    assert result.returncode == 1
    assert result.next_calls == 0
    post = result.post_to(INIT_ERROR_PATH)
    assert post.headers[ERROR_TYPE] == error_type
    assert post.json() == {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "",
        "stackTrace": [],
    }
    assert f"[ERROR] {error_type}: {message}\rTraceback (most recent call last):\n" in result.stdout


@pytest.mark.parametrize("python", PYTHONS)
def test_syntax_error_in_user_code(python: str, task_root: Path) -> None:
    app = write(task_root, "app.py", "def handler(event, context)\n    return 1\n")
    result = run(python, task_root, "app.handler")

    assert result.returncode == 1
    body = result.post_to(INIT_ERROR_PATH).json()
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    # The SyntaxError's own words vary between Python versions; where it points does not.
    assert body["errorMessage"].startswith("Syntax error in module 'app': ")
    assert body["errorMessage"].endswith("(app.py, line 1)")
    assert body["stackTrace"] == [f'  File "{app}" Line 1\n    def handler(event, context)\n']


@pytest.mark.parametrize("python", PYTHONS)
def test_exception_while_importing_is_reported_by_class_name(python: str, task_root: Path) -> None:
    app = write(
        task_root,
        "app.py",
        """
        import helper

        def handler(event, context):
            return 1
        """,
    )
    helper = write(task_root, "helper.py", "raise KeyError('init boom')\n")
    result = run(python, task_root, "app.handler")

    assert result.returncode == 1
    post = result.post_to(INIT_ERROR_PATH)
    assert post.headers[ERROR_TYPE] == "KeyError"
    assert post.json() == {
        "errorMessage": "'init boom'",
        "errorType": "KeyError",
        "requestId": "",
        "stackTrace": [
            f'  File "{app}", line 1, in <module>\n    import helper\n',
            f"  File \"{helper}\", line 1, in <module>\n    raise KeyError('init boom')\n",
        ],
    }
