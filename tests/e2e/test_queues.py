"""The SQS-compatible queue API on the Lambda endpoint, driven by boto3's `sqs` client, raw query-protocol
requests and the AWS CLI, against a real server."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.aws_cli import AwsCli
from tests.polling import concurrently, poll_until
from tests.server_process import FireboxServer

XMLNS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


@pytest.fixture(scope="module")
def sqs(server: FireboxServer) -> Any:
    return server.client("sqs")


@pytest.fixture
def queue_name(function_name: str) -> str:
    return function_name[-80:]


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_queues_are_created_listed_configured_and_deleted(sqs: Any, queue_name: str, server: FireboxServer) -> None:
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "7"}, tags={"team": "a"})["QueueUrl"]
    assert url == f"{server.endpoint}/000000000000/{queue_name}"
    assert sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "7"})["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "8"})
    assert sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] == url
    for suffix in ("-b", "-c"):
        sqs.create_queue(QueueName=queue_name[:78] + suffix)
    first = sqs.list_queues(QueueNamePrefix=queue_name[:78], MaxResults=2)
    second = sqs.list_queues(QueueNamePrefix=queue_name[:78], MaxResults=2, NextToken=first["NextToken"])
    assert len(first["QueueUrls"]) == 2 and len(second["QueueUrls"]) == 1 and "NextToken" not in second

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "3", "Policy": '{"Version": "2012-10-17"}'})
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "7" and attributes["DelaySeconds"] == "3"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{queue_name}"
    assert attributes["Policy"] == '{"Version": "2012-10-17"}'
    assert {"ApproximateNumberOfMessages", "CreatedTimestamp", "LastModifiedTimestamp"} <= set(attributes)
    assert "FifoQueue" not in attributes

    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}

    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=queue_name)
    assert (
        error_code(lambda: sqs.send_message(QueueUrl=url, MessageBody="x")) == "AWS.SimpleQueueService.NonExistentQueue"
    )


def test_messages_carry_attributes_and_digests_aws_computes(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    attributes = {
        "ordinal": {"DataType": "Number", "StringValue": "1"},
        "category": {"DataType": "String", "StringValue": "test"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    assert message["Body"] == "héllo" and message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(message["Attributes"])

    # Only the attributes asked for, with the digest of those alone (AWS's own value for these two).
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    (again,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["ordinal", "cat.*", "category"])["Messages"]
    assert set(again["MessageAttributes"]) == {"ordinal", "category"}
    assert again["MD5OfMessageAttributes"] == "d21ae90c49061e927f57df5f5d72be1f"
    assert "Attributes" not in again
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])


def test_batches_answer_per_entry(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(9)]
    entries.append({"Id": "bad", "MessageBody": "x", "DelaySeconds": 1000})
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in sent["Successful"]) == sorted(f"m{i}" for i in range(9))
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in sent["Failed"]] == [("bad", "InvalidParameterValue", True)]

    received = poll_until(
        lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", []),
        lambda messages: len(messages) > 0,
    )
    handles = [{"Id": f"h{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url, Entries=[{**h, "VisibilityTimeout": 120} for h in handles]
    )
    assert len(changed["Successful"]) == len(handles)
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[*handles, {"Id": "junk", "ReceiptHandle": "junk"}])
    assert len(deleted["Successful"]) == len(handles)
    assert [(f["Id"], f["Code"]) for f in deleted["Failed"]] == [("junk", "ReceiptHandleIsInvalid")]

    sqs.purge_queue(QueueUrl=url)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "0"}
    assert error_code(lambda: sqs.purge_queue(QueueUrl=url)) == "AWS.SimpleQueueService.PurgeQueueInProgress"


def test_bad_requests_get_the_errors_sqs_gives(server: FireboxServer, queue_name: str) -> None:
    sqs = server.client("sqs", parameter_validation=False)
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    handle_of_another_queue = "eC95L3o="
    expected = {
        "InvalidParameterValue": [
            lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11),
            lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21),
            lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * 262_145),
            lambda: sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d"),
            lambda: sqs.create_queue(QueueName="spaces are bad"),
            lambda: sqs.send_message(
                QueueUrl=url, MessageBody="x", MessageAttributes={"n": {"DataType": "Number", "StringValue": "x"}}
            ),
        ],
        "MissingParameter": [lambda: sqs.send_message(QueueUrl=url), lambda: sqs.create_queue()],
        "InvalidMessageContents": [lambda: sqs.send_message(QueueUrl=url, MessageBody="\x00")],
        "InvalidAttributeName": [
            lambda: sqs.create_queue(QueueName=queue_name[:70] + "x", Attributes={"Colour": "red"}),
            lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Colour"]),
        ],
        "InvalidAttributeValue": [lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "-1"})],
        "ReceiptHandleIsInvalid": [lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle_of_another_queue)],
        "AWS.SimpleQueueService.EmptyBatchRequest": [lambda: sqs.send_message_batch(QueueUrl=url, Entries=[])],
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": [
            lambda: sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)]
            )
        ],
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": [
            lambda: sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": "x"}] * 2)
        ],
        "AWS.SimpleQueueService.InvalidBatchEntryId": [
            lambda: sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "no spaces", "MessageBody": "x"}])
        ],
        "AWS.SimpleQueueService.UnsupportedOperation": [
            lambda: sqs.add_permission(QueueUrl=url, Label="l", AWSAccountIds=["1"], Actions=["SendMessage"])
        ],
    }
    for code, calls in expected.items():
        for call in calls:
            assert error_code(call) == code
    assert server.process is not None and server.process.poll() is None


def test_long_polling_wakes_as_soon_as_a_message_arrives(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    results: list[tuple[float, dict[str, Any]]] = []

    def receive() -> None:
        started = time.monotonic()
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        results.append((time.monotonic() - started, answer))

    receiver = threading.Thread(target=receive)
    receiver.start()
    time.sleep(0.3)  # the receiver is waiting on the server now (it answers an empty queue at once otherwise)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    receiver.join(30)
    ((waited, answer),) = results
    assert [m["Body"] for m in answer["Messages"]] == ["wake up"]
    assert waited < 15  # well before the 20 s wait ran out


def test_an_expired_visibility_timeout_redelivers_and_counts(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    (first,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    again = poll_until(
        lambda: sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"]).get("Messages"),
        lambda messages: bool(messages),
        timeout_s=10,
    )
    assert again[0]["MessageId"] == first["MessageId"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again[0]["ReceiptHandle"] != first["ReceiptHandle"]


def test_a_message_received_too_often_goes_to_the_dead_letter_queue(sqs: Any, queue_name: str) -> None:
    dlq_url = sqs.create_queue(QueueName=queue_name[:76] + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName=queue_name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    stored = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    assert json.loads(stored) == json.loads(policy)
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]) == 1
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    (dead,) = sqs.receive_message(QueueUrl=dlq_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(f":{queue_name}")
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [url]
    missing = json.dumps({"deadLetterTargetArn": dlq_arn + "-gone", "maxReceiveCount": 2})
    assert error_code(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": missing})) == (
        "InvalidParameterValue"
    )


def test_fifo_queues_keep_group_order_and_deduplicate(sqs: Any, queue_name: str) -> None:
    name = queue_name[:75] + ".fifo"
    assert error_code(lambda: sqs.create_queue(QueueName=queue_name, Attributes={"FifoQueue": "true"})) == (
        "InvalidParameterValue"
    )
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="a") for i in range(3)]
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b")
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a")
    assert duplicate["MessageId"] == sent[0]["MessageId"]
    sequences = [int(s["SequenceNumber"]) for s in sent]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    explicit = sqs.send_message(QueueUrl=url, MessageBody="c0", MessageGroupId="c", MessageDeduplicationId="one")
    assert (
        sqs.send_message(QueueUrl=url, MessageBody="c1", MessageGroupId="c", MessageDeduplicationId="one")["MessageId"]
        == explicit["MessageId"]
    )

    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["a0", "a1"]
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    assert first[0]["Attributes"]["SequenceNumber"] == sent[0]["SequenceNumber"]
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["b0", "c0"]  # group a is held while a0 and a1 are in flight
    for message in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["a2"]
    assert error_code(lambda: sqs.send_message(QueueUrl=url, MessageBody="x")) == "MissingParameter"
    assert error_code(lambda: sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="a", DelaySeconds=1)) == (
        "InvalidParameterValue"
    )


def _query(server: FireboxServer, fields: dict[str, str], path: str = "/") -> tuple[int, ET.Element]:
    request = server.signed_request(
        "POST",
        path,
        urllib.parse.urlencode({**fields, "Version": "2012-11-05"}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
        service="sqs",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, ET.fromstring(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, ET.fromstring(error.read())


def _find(element: ET.Element, path: str) -> str:
    found = element.find("/".join(XMLNS + part for part in path.split("/")))
    assert found is not None and found.text is not None, ET.tostring(element)
    return found.text


def test_the_query_protocol_of_older_sdks(server: FireboxServer, queue_name: str) -> None:
    status, created = _query(
        server,
        {"Action": "CreateQueue", "QueueName": queue_name, "Attribute.1.Name": "VisibilityTimeout",
         "Attribute.1.Value": "45", "Tag.1.Key": "team", "Tag.1.Value": "q"},
    )  # fmt: skip
    assert status == 200
    url = _find(created, "CreateQueueResult/QueueUrl")
    assert url == f"{server.endpoint}/000000000000/{queue_name}"
    assert _find(created, "ResponseMetadata/RequestId")

    status, sent = _query(
        server,
        {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "a <query> & more",
         "MessageAttribute.1.Name": "ordinal", "MessageAttribute.1.Value.DataType": "Number",
         "MessageAttribute.1.Value.StringValue": "1", "MessageAttribute.2.Name": "category",
         "MessageAttribute.2.Value.DataType": "String", "MessageAttribute.2.Value.StringValue": "test"},
    )  # fmt: skip
    assert status == 200
    assert _find(sent, "SendMessageResult/MD5OfMessageAttributes") == "d21ae90c49061e927f57df5f5d72be1f"
    batch = {"SendMessageBatchRequestEntry.1.Id": "one", "SendMessageBatchRequestEntry.1.MessageBody": "second"}
    status, _ = _query(server, {"Action": "SendMessageBatch", **batch}, path=urllib.parse.urlsplit(url).path)
    assert status == 200  # addressed to the queue by path, without a QueueUrl field

    status, received = _query(
        server,
        {"Action": "ReceiveMessage", "QueueUrl": url, "MaxNumberOfMessages": "10", "AttributeName.1": "All",
         "MessageAttributeName.1": "All", "WaitTimeSeconds": "1"},
    )  # fmt: skip
    assert status == 200
    messages = received.findall(f"{XMLNS}ReceiveMessageResult/{XMLNS}Message")
    bodies = sorted(_find(m, "Body") for m in messages)
    assert bodies == ["a <query> & more", "second"]
    first = next(m for m in messages if _find(m, "Body") == "a <query> & more")
    names = {_find(a, "Name"): _find(a, "Value") for a in first.findall(f"{XMLNS}Attribute")}
    assert names["ApproximateReceiveCount"] == "1"
    attributes = {_find(a, "Name"): _find(a, "Value/StringValue") for a in first.findall(f"{XMLNS}MessageAttribute")}
    assert attributes == {"ordinal": "1", "category": "test"}

    status, attributes_reply = _query(
        server, {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "All"}
    )
    values = {
        _find(a, "Name"): _find(a, "Value")
        for a in attributes_reply.findall(f"{XMLNS}GetQueueAttributesResult/{XMLNS}Attribute")
    }
    assert values["VisibilityTimeout"] == "45" and values["ApproximateNumberOfMessagesNotVisible"] == "2"

    status, deleted = _query(
        server, {"Action": "DeleteMessage", "QueueUrl": url, "ReceiptHandle": _find(first, "ReceiptHandle")}
    )
    assert status == 200 and deleted.tag == f"{XMLNS}DeleteMessageResponse"

    status, error = _query(server, {"Action": "GetQueueUrl", "QueueName": queue_name + "-missing"})
    assert status == 400
    assert _find(error, "Error/Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert _find(error, "Error/Type") == "Sender"
    status, error = _query(server, {"Action": "Teleport"})
    assert (status, _find(error, "Error/Code")) == (400, "InvalidAction")
    status, error = _query(server, {"Action": "ReceiveMessage", "QueueUrl": url, "MaxNumberOfMessages": "ten"})
    assert (status, _find(error, "Error/Code")) == (400, "InvalidParameterValue")


def test_the_aws_cli_works_with_queues(server: FireboxServer, queue_name: str, tmp_path: Path) -> None:
    aws = AwsCli(server, tmp_path, "sqs")
    cli, cli_json = aws.run, aws.json

    url = cli_json("create-queue", "--queue-name", queue_name)["QueueUrl"]
    cli_json("send-message", "--queue-url", url, "--message-body", "from the cli")
    (message,) = cli_json("receive-message", "--queue-url", url, "--attribute-names", "All")["Messages"]
    assert message["Body"] == "from the cli"
    cli_json("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"])
    attributes = cli_json("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    missing = cli("get-queue-url", "--queue-name", queue_name + "-missing")
    assert missing.returncode != 0 and "NonExistentQueue" in missing.stderr


def test_sent_messages_survive_kill_9(start_server: Callable[..., FireboxServer], tmp_path: Path) -> None:
    first = start_server("--sandbox", "process", "--workers", "0")
    sqs = first.client("sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    counter = iter(range(1_000_000))

    def send_batches() -> list[str]:
        ids = []
        for _ in range(5):
            reply = sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": f"body {next(counter)}"} for i in range(10)]
            )
            assert not reply.get("Failed")
            ids.extend(entry["MessageId"] for entry in reply["Successful"])
        return ids

    sent = {message_id for ids in concurrently(4, send_batches) for message_id in ids}
    assert len(sent) == 200
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = start_server("--sandbox", "process", "--workers", "0", data_dir=first.data_dir, port=first.port)
    client = second.client("sqs")
    received: set[str] = set()
    while True:
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages")
        if not messages:
            break
        received.update(m["MessageId"] for m in messages)
    assert received == sent
