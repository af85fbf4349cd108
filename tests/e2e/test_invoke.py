"""Invoke end to end: payloads, errors, qualifiers, aliases, log tails, the context object."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pytest

HANDLERS = """
import json, os, time
CALLS = 0

def echo(event, context):
    return event

def count(event, context):
    global CALLS
    CALLS += 1
    path = "/tmp/firebox-count"
    previous = open(path).read() if os.path.exists(path) else ""
    with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "mark"), "a") as mark:
        mark.write("x")
    return {"calls": CALLS, "marks": len(open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "mark")).read())}

def fail(event, context):
    raise ValueError("boom: " + str(event.get("why")))

def context_fields(event, context):
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": int(context.memory_limit_in_mb),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_custom": context.client_context.custom if context.client_context else None,
        "identity": context.identity.cognito_identity_id if context.identity else None,
        "env": {k: os.environ.get(k) for k in ("AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER", "AWS_EXECUTION_ENV", "AWS_ACCESS_KEY_ID",
            "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "MY_SETTING")},
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }

def sleepy(event, context):
    time.sleep(event.get("seconds", 0))
    return context.get_remaining_time_in_millis()

def chatty(event, context):
    print("line one")
    print("line two", flush=True)
    import logging
    logging.getLogger().warning("a warning")
    return "done"

def big(event, context):
    return "x" * event["size"]

def unserialisable(event, context):
    return {1, 2, 3}
"""


def _payload(response: dict[str, Any]) -> Any:
    return json.loads(response["Payload"].read())


@pytest.fixture
def handlers(create_function: Any, function_name: str) -> str:
    create_function({"app.py": HANDLERS}, handler="app.echo", Environment={"Variables": {"MY_SETTING": "on"}})
    return function_name


def _set_handler(lambda_client: Any, name: str, handler: str) -> None:
    lambda_client.update_function_configuration(FunctionName=name, Handler=handler)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)


def test_echo_returns_the_event(lambda_client: Any, handlers: str) -> None:
    event = {"hello": "world", "n": [1, 2, 3]}
    response = lambda_client.invoke(FunctionName=handlers, Payload=json.dumps(event))
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert _payload(response) == event


def test_empty_payload_is_an_empty_object(lambda_client: Any, handlers: str) -> None:
    assert _payload(lambda_client.invoke(FunctionName=handlers)) == {}


def test_warm_environment_keeps_globals_and_tmp(lambda_client: Any, handlers: str) -> None:
    _set_handler(lambda_client, handlers, "app.count")
    first = _payload(lambda_client.invoke(FunctionName=handlers))
    second = _payload(lambda_client.invoke(FunctionName=handlers))
    assert first == {"calls": 1, "marks": 1}
    assert second == {"calls": 2, "marks": 2}


def test_handler_exception_is_a_function_error(lambda_client: Any, handlers: str) -> None:
    _set_handler(lambda_client, handlers, "app.fail")
    response = lambda_client.invoke(FunctionName=handlers, Payload=b'{"why": "testing"}')
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = _payload(response)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom: testing"
    assert any("raise ValueError" in frame for frame in error["stackTrace"])


def test_unserialisable_result_is_a_marshal_error(lambda_client: Any, handlers: str) -> None:
    _set_handler(lambda_client, handlers, "app.unserialisable")
    response = lambda_client.invoke(FunctionName=handlers)
    assert response["FunctionError"] == "Unhandled"
    assert _payload(response)["errorType"] == "Runtime.MarshalError"


def test_context_object_and_environment(lambda_client: Any, handlers: str) -> None:
    _set_handler(lambda_client, handlers, "app.context_fields")
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    response = lambda_client.invoke(FunctionName=handlers, ClientContext=client_context)
    fields = _payload(response)
    request_id = response["ResponseMetadata"]["RequestId"]
    assert fields["aws_request_id"] == request_id
    assert fields["function_name"] == handlers
    assert fields["function_version"] == "$LATEST"
    assert fields["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{handlers}"
    assert fields["memory_limit_in_mb"] == 128
    assert fields["log_group_name"] == f"/aws/lambda/{handlers}"
    assert "[$LATEST]" in fields["log_stream_name"]
    assert 2900 <= fields["remaining"] <= 3000
    assert fields["client_custom"] == {"k": "v"}
    assert fields["identity"] is None
    env = fields["env"]
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == handlers
    assert env["_HANDLER"] == "app.context_fields"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["MY_SETTING"] == "on"
    assert fields["trace"].startswith("Root=1-")


def test_remaining_time_is_right_within_50_ms(lambda_client: Any, handlers: str) -> None:
    lambda_client.update_function_configuration(FunctionName=handlers, Handler="app.sleepy", Timeout=5)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=handlers)
    remaining = _payload(lambda_client.invoke(FunctionName=handlers, Payload=b'{"seconds": 1}'))
    assert 3950 <= remaining <= 4000 + 50


def test_log_tail_has_the_invocation_lines(lambda_client: Any, handlers: str) -> None:
    _set_handler(lambda_client, handlers, "app.chatty")
    lambda_client.invoke(FunctionName=handlers)  # the cold start's init lines are not this test's business
    response = lambda_client.invoke(FunctionName=handlers, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(response["LogResult"]).decode()
    lines = tail.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "line one" in lines and "line two" in lines
    assert any(line.startswith("[WARNING]") and line.endswith("a warning") and request_id in line for line in lines)
    assert lines[-2] == f"END RequestId: {request_id}"
    report = lines[-1].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1].startswith("Duration: ") and report[1].endswith(" ms")
    assert report[2].startswith("Billed Duration: ")
    assert report[3] == "Memory Size: 128 MB"
    assert report[4].startswith("Max Memory Used: ")
    assert int(report[4].split()[3]) > 0
    assert not any(part.startswith("Init Duration") for part in report)


def test_cold_start_report_has_init_duration(lambda_client: Any, handlers: str) -> None:
    response = lambda_client.invoke(FunctionName=handlers, LogType="Tail")
    report = base64.b64decode(response["LogResult"]).decode().splitlines()[-1]
    assert "\tInit Duration: " in report


def test_log_tail_is_at_most_4_kb(lambda_client: Any, handlers: str) -> None:
    lambda_client.update_function_code(
        FunctionName=handlers,
        ZipFile=__import__("tests.zips", fromlist=["make_zip"]).make_zip(
            {"app.py": "def echo(event, context):\n    for i in range(2000):\n        print('line', i)\n"}
        ),
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=handlers)
    tail = base64.b64decode(lambda_client.invoke(FunctionName=handlers, LogType="Tail")["LogResult"])
    assert 3000 < len(tail) <= 4096
    assert tail.decode().splitlines()[-1].startswith("REPORT RequestId:")


def test_response_over_6_mb_is_a_function_error(lambda_client: Any, handlers: str) -> None:
    _set_handler(lambda_client, handlers, "app.big")
    ok = lambda_client.invoke(FunctionName=handlers, Payload=json.dumps({"size": 1_000_000}))
    assert "FunctionError" not in ok
    response = lambda_client.invoke(FunctionName=handlers, Payload=json.dumps({"size": 7_000_000}))
    assert response["FunctionError"] == "Unhandled"
    assert _payload(response)["errorType"] == "Function.ResponseSizeTooLarge"
    assert _payload(lambda_client.invoke(FunctionName=handlers, Payload=json.dumps({"size": 10}))) == "x" * 10


def test_request_over_6_mb_is_refused(lambda_client: Any, handlers: str) -> None:
    with pytest.raises(lambda_client.exceptions.RequestTooLargeException):
        lambda_client.invoke(FunctionName=handlers, Payload=json.dumps({"x": "y" * 6_300_000}))


def test_invalid_json_payload_is_refused(lambda_client: Any, handlers: str) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException):
        lambda_client.invoke(FunctionName=handlers, Payload=b"{not json")


def test_dry_run_checks_without_running(lambda_client: Any, handlers: str) -> None:
    assert lambda_client.invoke(FunctionName=handlers, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName=handlers + "-missing", InvocationType="DryRun")


def test_unknown_function_and_qualifier(lambda_client: Any, handlers: str) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName=handlers + "-missing")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName=handlers, Qualifier="42")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName=handlers, Qualifier="nosuchalias")


def test_versions_and_weighted_alias(lambda_client: Any, create_function: Any, function_name: str) -> None:
    create_function({"app.py": "def handler(e, c):\n    return 'one'\n"})
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.update_function_code(
        FunctionName=function_name,
        ZipFile=__import__("tests.zips", fromlist=["make_zip"]).make_zip(
            {"app.py": "def handler(e, c):\n    return 'two'\n"}
        ),
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name)
    lambda_client.publish_version(FunctionName=function_name)
    assert _payload(lambda_client.invoke(FunctionName=function_name, Qualifier="1")) == "one"
    assert _payload(lambda_client.invoke(FunctionName=function_name, Qualifier="2")) == "two"
    assert _payload(lambda_client.invoke(FunctionName=f"{function_name}:1")) == "one"
    lambda_client.create_alias(
        FunctionName=function_name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    executed: Counter[str] = Counter()
    for _ in range(200):
        response = lambda_client.invoke(FunctionName=function_name, Qualifier="live")
        body = _payload(response)
        executed[response["ExecutedVersion"]] += 1
        assert body == {"1": "one", "2": "two"}[response["ExecutedVersion"]]
    # 200 draws at 30%: the chance of falling outside 30-90 is about one in ten million.
    assert 30 <= executed["2"] <= 90
    assert executed["1"] + executed["2"] == 200
