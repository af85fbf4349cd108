"""Asynchronous invocation: durable 202s, retries, event age, destinations, dead-letter targets, and each
event's fate, against a real server whose retry delays are shortened (--async-retry-delay)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.polling import poll_until
from tests.server_process import FireboxServer

RETRY_DELAY_S = 0.2  # Lambda's minute, shortened: retries come after 0.2 and 0.4 s, backoff tops at 1 s
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:"
ECHO = "def handler(event, context):\n    return {'echo': event}\n"
FAILING = "def handler(event, context):\n    raise ValueError('no good: ' + str(event.get('n')))\n"
# A destination that writes each record it receives to its log, where the test reads it back.
RECORDER = "import json\n\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    instance = FireboxServer(
        tmp_path_factory.mktemp("async") / "data", "--async-retry-delay", str(RETRY_DELAY_S)
    ).start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def client(server: FireboxServer) -> Any:
    return server.client()


def events_of(server: FireboxServer, name: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(server.signed_request("GET", f"/firebox/events/{name}?limit=10000")) as reply:
        found: list[dict[str, Any]] = json.loads(reply.read())
    return found


def finished_events(server: FireboxServer, name: str, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    found = poll_until(
        lambda: events_of(server, name),
        lambda events: len(events) >= count and all(e["finished_at"] for e in events),
        timeout_s,
    )
    assert len(found) == count and all(e["finished_at"] for e in found), found
    return found


def log_messages(server: FireboxServer, name: str) -> list[str]:
    logs = server.client("logs")
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [str(event["message"]) for event in found["events"]]


def records(server: FireboxServer, recorder: str, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    lines = poll_until(
        lambda: [m for m in log_messages(server, recorder) if m.startswith("RECORD ")],
        lambda found: len(found) >= count,
        timeout_s,
    )
    assert len(lines) == count, lines
    return [json.loads(line.removeprefix("RECORD ")) for line in lines]


def fail_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_an_event_is_accepted_with_202_and_run_once(server: FireboxServer, client: Any, function_name: str) -> None:
    server.create_function(function_name, ECHO)
    reply = client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'{"n": 1}')
    assert reply["StatusCode"] == 202
    assert reply["Payload"].read() == b""
    request_id = reply["ResponseMetadata"]["RequestId"]
    (event,) = finished_events(server, function_name, 1)
    assert event["request_id"] == request_id
    assert (event["fate"], event["attempts"], event["tries"]) == ("succeeded", 1, 1)
    starts = [m for m in log_messages(server, function_name) if m.startswith("START")]
    assert starts == [f"START RequestId: {request_id} Version: $LATEST"]


def test_invoke_async_still_works(server: FireboxServer, client: Any, function_name: str) -> None:
    server.create_function(function_name, ECHO)
    reply = client.invoke_async(FunctionName=function_name, InvokeArgs=b'{"old": "api"}')
    assert reply["Status"] == 202
    (event,) = finished_events(server, function_name, 1)
    assert event["fate"] == "succeeded"


def test_bad_event_invocations_get_aws_errors_and_queue_nothing(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    server.create_function(function_name, ECHO)

    def event(payload: bytes, name: str = function_name, **extra: Any) -> Any:
        return lambda: client.invoke(FunctionName=name, InvocationType="Event", Payload=payload, **extra)

    assert fail_code(event(b'{"x": "' + b"a" * 1_048_576 + b'"}')) == "RequestTooLargeException"
    assert fail_code(event(b"{not json")) == "InvalidRequestContentException"
    assert fail_code(event(b"{}", name=function_name + "-missing")) == "ResourceNotFoundException"
    assert fail_code(event(b"{}", Qualifier="nosuchalias")) == "ResourceNotFoundException"
    assert fail_code(lambda: client.invoke_async(FunctionName="nope-missing", InvokeArgs=b"{}")) == (
        "ResourceNotFoundException"
    )
    assert events_of(server, function_name) == []
    # Just under the limit is accepted.
    client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'"' + b"a" * 1_048_000 + b'"')
    assert finished_events(server, function_name, 1)[0]["fate"] == "succeeded"


def test_event_invoke_configs_are_put_updated_listed_and_deleted(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    server.create_function(function_name, ECHO)
    client.publish_version(FunctionName=function_name)
    client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    target = f"{ARN}{function_name}"
    put = client.put_function_event_invoke_config(
        FunctionName=function_name, MaximumRetryAttempts=1, DestinationConfig={"OnSuccess": {"Destination": target}}
    )
    assert put["FunctionArn"] == f"{target}:$LATEST"
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 21600)
    assert put["DestinationConfig"] == {"OnSuccess": {"Destination": target}, "OnFailure": {}}
    updated = client.update_function_event_invoke_config(FunctionName=function_name, MaximumEventAgeInSeconds=60)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 60)
    assert updated["DestinationConfig"]["OnSuccess"] == {"Destination": target}
    # Put replaces everything: what it leaves out goes back to its default.
    replaced = client.put_function_event_invoke_config(FunctionName=function_name, MaximumRetryAttempts=0)
    assert (replaced["MaximumRetryAttempts"], replaced["MaximumEventAgeInSeconds"]) == (0, 21600)
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    client.put_function_event_invoke_config(FunctionName=function_name, Qualifier="live", MaximumRetryAttempts=2)
    got = client.get_function_event_invoke_config(FunctionName=f"{function_name}:live")
    assert got["FunctionArn"] == f"{target}:live"
    listed = client.list_function_event_invoke_configs(FunctionName=function_name)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == [f"{target}:$LATEST", f"{target}:live"]
    client.delete_function_event_invoke_config(FunctionName=function_name, Qualifier="live")
    assert fail_code(lambda: client.get_function_event_invoke_config(FunctionName=function_name, Qualifier="live")) == (
        "ResourceNotFoundException"
    )
    assert fail_code(
        lambda: client.delete_function_event_invoke_config(FunctionName=function_name, Qualifier="live")
    ) == ("ResourceNotFoundException")
    client.delete_function(FunctionName=function_name)
    server.create_function(function_name, ECHO)  # a new function of the same name starts without them
    assert fail_code(lambda: client.get_function_event_invoke_config(FunctionName=function_name)) == (
        "ResourceNotFoundException"
    )


def test_bad_event_invoke_configs_are_refused(server: FireboxServer, client: Any, function_name: str) -> None:
    server.create_function(function_name, ECHO)
    put = client.put_function_event_invoke_config
    assert fail_code(lambda: put(FunctionName=function_name)) == "InvalidParameterValueException"
    assert fail_code(lambda: put(FunctionName=function_name, MaximumRetryAttempts=3)) == "ValidationException"
    raw_put = server.client(parameter_validation=False).put_function_event_invoke_config  # botocore checks minimums
    assert fail_code(lambda: raw_put(FunctionName=function_name, MaximumEventAgeInSeconds=59)) == "ValidationException"
    topic = "arn:aws:sns:us-east-1:000000000000:topic"
    assert (
        fail_code(lambda: put(FunctionName=function_name, DestinationConfig={"OnFailure": {"Destination": topic}}))
        == "InvalidParameterValueException"
    )
    assert fail_code(lambda: put(FunctionName=function_name + "-x", MaximumRetryAttempts=1)) == (
        "ResourceNotFoundException"
    )
    assert fail_code(lambda: put(FunctionName=function_name, Qualifier="7", MaximumRetryAttempts=1)) == (
        "ResourceNotFoundException"
    )
    assert fail_code(lambda: client.get_function_event_invoke_config(FunctionName=function_name)) == (
        "ResourceNotFoundException"
    )


def test_a_failing_event_is_tried_max_retries_plus_one_times_then_sent_on_failure(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    recorder = function_name + "-rec"
    server.create_function(function_name, FAILING)
    server.create_function(recorder, RECORDER)
    client.put_function_event_invoke_config(
        FunctionName=function_name, DestinationConfig={"OnFailure": {"Destination": f"{ARN}{recorder}"}}
    )
    reply = client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'{"n": 7}')
    request_id = reply["ResponseMetadata"]["RequestId"]
    (record,) = records(server, recorder, 1)
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}{function_name}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"n": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "no good: 7"
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    (event,) = finished_events(server, function_name, 1)
    assert (event["fate"], event["attempts"], event["pending_deliveries"]) == ("failed", 3, 0)
    # Each retry runs under the event's own request id.
    starts = [m for m in log_messages(server, function_name) if m.startswith("START")]
    assert starts == [f"START RequestId: {request_id} Version: $LATEST"] * 3


def test_no_retries_means_one_attempt(server: FireboxServer, client: Any, function_name: str) -> None:
    server.create_function(function_name, FAILING)
    client.put_function_event_invoke_config(FunctionName=function_name, MaximumRetryAttempts=0)
    for n in range(3):
        client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps({"n": n}))
    found = finished_events(server, function_name, 3)
    assert {(e["fate"], e["attempts"]) for e in found} == {("failed", 1)}


def test_a_successful_event_is_sent_on_success_with_the_response(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    recorder = function_name + "-rec"
    server.create_function(function_name, ECHO)
    server.create_function(recorder, RECORDER)
    client.publish_version(FunctionName=function_name)
    client.put_function_event_invoke_config(
        FunctionName=function_name, Qualifier="1", DestinationConfig={"OnSuccess": {"Destination": f"{ARN}{recorder}"}}
    )
    client.invoke(FunctionName=function_name, Qualifier="1", InvocationType="Event", Payload=b'{"n": 1}')
    client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'{"n": 2}')  # $LATEST: no destination
    (record,) = records(server, recorder, 1)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["functionArn"] == f"{ARN}{function_name}:1"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert record["responsePayload"] == {"echo": {"n": 1}}
    assert len(finished_events(server, function_name, 2)) == 2


def test_throttled_events_are_retried_until_the_function_may_run(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    server.create_function(function_name, ECHO)
    client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=0)
    client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b"{}")
    throttled = poll_until(lambda: events_of(server, function_name), lambda found: found[0]["tries"] >= 3)
    assert throttled[0]["fate"] is None and throttled[0]["attempts"] == 0
    assert throttled[0]["last_outcome"].startswith("throttled (ReservedFunctionConcurrentInvocationLimitExceeded)")
    client.delete_function_concurrency(FunctionName=function_name)
    (event,) = finished_events(server, function_name, 1)
    assert (event["fate"], event["attempts"]) == ("succeeded", 1)


def test_an_event_never_run_expires_after_its_maximum_age(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    recorder = function_name + "-rec"
    server.create_function(function_name, ECHO)
    server.create_function(recorder, RECORDER)
    client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=0)
    client.put_function_event_invoke_config(
        FunctionName=function_name,
        MaximumEventAgeInSeconds=60,  # the shortest AWS allows: this test takes a minute
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}{recorder}"}},
    )
    reply = client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'{"n": 9}')
    (record,) = records(server, recorder, 1, timeout_s=120)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == reply["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    (event,) = finished_events(server, function_name, 1)
    assert event["fate"] == "expired" and event["tries"] > 3


def test_an_undeliverable_record_is_counted_and_retried_until_delivered(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    recorder = function_name + "-rec"  # not there yet
    server.create_function(function_name, ECHO)
    client.put_function_event_invoke_config(
        FunctionName=function_name, DestinationConfig={"OnSuccess": {"Destination": f"{ARN}{recorder}"}}
    )
    client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'{"n": 3}')
    failing = poll_until(lambda: events_of(server, function_name), lambda found: found[0]["failed_deliveries"] >= 2)
    assert failing[0]["fate"] == "succeeded" and failing[0]["pending_deliveries"] == 1
    assert failing[0]["finished_at"] is None
    server.create_function(recorder, RECORDER)
    (record,) = records(server, recorder, 1)
    assert record["requestPayload"] == {"n": 3}
    (event,) = finished_events(server, function_name, 1)
    assert event["pending_deliveries"] == 0


def test_a_dead_letter_target_is_configured_shown_and_removed(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    queue = f"{QUEUE_ARN}{function_name}-dlq"
    created = server.create_function(function_name, ECHO, DeadLetterConfig={"TargetArn": queue})
    assert created["DeadLetterConfig"] == {"TargetArn": queue}
    assert client.get_function_configuration(FunctionName=function_name)["DeadLetterConfig"] == {"TargetArn": queue}
    version = client.publish_version(FunctionName=function_name)["Version"]
    client.update_function_configuration(FunctionName=function_name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in client.get_function_configuration(FunctionName=function_name)
    published = client.get_function_configuration(FunctionName=function_name, Qualifier=version)
    assert published["DeadLetterConfig"] == {"TargetArn": queue}
    topic = "arn:aws:sns:us-east-1:000000000000:topic"
    assert (
        fail_code(
            lambda: client.update_function_configuration(
                FunctionName=function_name, DeadLetterConfig={"TargetArn": topic}
            )
        )
        == "InvalidParameterValueException"
    )


def test_accepted_events_survive_a_kill_of_every_firebox_process(start_server: Any, function_name: str) -> None:
    first = start_server("--async-retry-delay", str(RETRY_DELAY_S))
    client = first.client()
    first.create_function(function_name, ECHO)
    # Reserved concurrency 0 holds every event in the queue: none can have run when the server dies.
    client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=0)
    accepted = {
        client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps({"n": n}))[
            "ResponseMetadata"
        ]["RequestId"]
        for n in range(50)
    }
    assert first.process is not None
    for pid in [first.process.pid, *first.worker_pids()]:
        os.kill(pid, signal.SIGKILL)
    first.process.wait()
    second = start_server("--async-retry-delay", str(RETRY_DELAY_S), data_dir=first.data_dir, port=first.port)
    second.client().delete_function_concurrency(FunctionName=function_name)
    found = finished_events(second, function_name, 50)
    assert {e["request_id"] for e in found} == accepted
    assert {e["fate"] for e in found} == {"succeeded"}


def _queue(server: FireboxServer, name: str) -> tuple[Any, str, str]:
    """(sqs client, queue URL, queue ARN) of a new queue."""
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def _drain(sqs: Any, url: str, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
    """Receive (and delete) messages until `count` have come or the time is up."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(received) < count and time.monotonic() < deadline:
        found = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if found:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(found)],
            )
        received.extend(found)
    return received


def test_a_failing_function_sends_every_event_to_its_dead_letter_queue_after_max_retries_plus_one(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    sqs, url, arn = _queue(server, f"{function_name}-dlq")
    server.create_function(function_name, FAILING, DeadLetterConfig={"TargetArn": arn})
    client.put_function_event_invoke_config(FunctionName=function_name, MaximumRetryAttempts=1)
    sent = {
        client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps({"n": n}))[
            "ResponseMetadata"
        ]["RequestId"]: n
        for n in range(5)
    }
    letters = _drain(sqs, url, 5)
    assert len(letters) == 5
    for letter in letters:
        attributes = letter["MessageAttributes"]
        n = sent[attributes["RequestID"]["StringValue"]]
        assert json.loads(letter["Body"]) == {"n": n}  # the event itself, as it was sent
        assert attributes["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
        assert attributes["ErrorMessage"]["StringValue"] == f"no good: {n}"
    found = finished_events(server, function_name, 5)
    assert {(e["fate"], e["attempts"]) for e in found} == {("failed", 2)}  # MaximumRetryAttempts + 1
    assert _drain(sqs, url, 1, timeout_s=1) == []


def test_a_queue_destination_receives_the_invocation_record(
    server: FireboxServer, client: Any, function_name: str
) -> None:
    sqs, url, arn = _queue(server, f"{function_name}-ok")
    server.create_function(function_name, ECHO)
    client.put_function_event_invoke_config(
        FunctionName=function_name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    reply = client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b'{"n": 5}')
    (message,) = _drain(sqs, url, 1)
    record = json.loads(message["Body"])
    assert record["requestContext"]["requestId"] == reply["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"echo": {"n": 5}}


def test_ten_thousand_events_survive_a_kill_in_their_midst(start_server: Any, function_name: str) -> None:
    """Every accepted event reaches its OnSuccess queue at least once although the server and its workers
    are killed with SIGKILL while the events are being run; none reaches the dead-letter queue."""
    args = ("--async-retry-delay", str(RETRY_DELAY_S))
    first = start_server(*args)
    client = first.client()
    sqs, done_url, done_arn = _queue(first, f"{function_name}-done")
    _, dlq_url, dlq_arn = _queue(first, f"{function_name}-dlq")
    first.create_function(function_name, ECHO, DeadLetterConfig={"TargetArn": dlq_arn})
    client.put_function_event_invoke_config(
        FunctionName=function_name, DestinationConfig={"OnSuccess": {"Destination": done_arn}}
    )
    total = 10_000

    def send(part: int) -> None:
        own = first.client()
        for n in range(part, total, 8):
            own.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps({"id": n}))

    threads = [threading.Thread(target=send, args=(part,)) for part in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def recorded() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=done_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    # Kill while a good share of the events is done and a good share is not.
    assert poll_until(recorded, lambda count: count >= total // 3, timeout_s=300) >= total // 3
    assert first.process is not None
    for pid in [first.process.pid, *first.worker_pids()]:
        os.kill(pid, signal.SIGKILL)
    first.process.wait()
    second = start_server(*args, data_dir=first.data_dir, port=first.port)
    sqs = second.client("sqs")
    ids: set[int] = set()
    deadline = time.monotonic() + 300
    while len(ids) < total and time.monotonic() < deadline:
        for message in _drain(sqs, done_url, 1000, timeout_s=5):
            ids.add(json.loads(message["Body"])["requestPayload"]["id"])
    assert ids == set(range(total))
    assert _drain(sqs, dlq_url, 1, timeout_s=1) == []
