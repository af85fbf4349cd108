"""Amazon SQS on the Lambda endpoint: the JSON protocol boto3 sends (`X-Amz-Target: AmazonSQS.<Operation>`)
and the query protocol older SDKs and CLIs send (form fields with `Action=`, answered in XML), both turned
into calls of the queue service and checked against botocore's SQS model."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import msgspec
from aiohttp import web
from botocore.model import OperationModel, Shape
from multidict import MultiDict

from firebox.errors import (
    FireboxError,
    InvalidAttributeName,
    InvalidQueueParameter,
    MissingParameter,
    QueueNotFound,
    QueueOperationUnsupported,
    QueueRequestRejected,
    UnknownQueueAction,
)
from firebox.frontend.authentication import Authenticator, Caller
from firebox.frontend.aws_errors import sqs_error_of
from firebox.frontend.protocol import json_object, parse_request, serialize_result
from firebox.frontend.query_protocol import parse_form, xml_error, xml_result
from firebox.frontend.validation import validate
from firebox.queues import (
    MessageAttribute,
    OutgoingMessage,
    QueueService,
    ReceivedMessage,
    SentMessage,
    check_batch,
    check_batch_size,
    md5_of_attributes,
    message_size,
)

TARGET_PREFIX = "AmazonSQS."
_FORM = "application/x-www-form-urlencoded"
_MAX_LISTED = 1000
_UNSUPPORTED = {
    "AddPermission",
    "RemovePermission",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
    "ListMessageMoveTasks",
}

Params = dict[str, Any]

_NO_QUERY: MultiDict[str] = MultiDict()  # JSON-protocol requests carry everything in the body


@dataclass(frozen=True, slots=True)
class QueueCall:
    base_url: str  # scheme://host:port the client reached us at: queue URLs are built on it


Handler = Callable[[Params, QueueCall], Awaitable[Params]]


def is_query_request(request: web.Request) -> bool:
    """A query-protocol SQS request: a form POST (Lambda's API never sends one), or a GET with an Action."""
    return (request.method == "POST" and request.content_type == _FORM) or "Action" in request.query


class QueuesApi:
    def __init__(self, service: QueueService, authenticator: Authenticator) -> None:
        self._service = service
        self._auth = authenticator
        self._model = botocore.session.get_session().get_service_model("sqs")
        self._handlers: dict[str, Handler] = {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "DeleteQueue": self.delete_queue,
            "PurgeQueue": self.purge_queue,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "TagQueue": self.tag_queue,
            "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
        }

    def _operation(self, name: str) -> tuple[OperationModel, Handler]:
        handler = self._handlers.get(name)
        if handler is not None:
            return self._model.operation_model(name), handler
        if name in _UNSUPPORTED:
            raise QueueOperationUnsupported(f"Firebox does not support the SQS operation {name}.")
        raise UnknownQueueAction(f"The action {name} is not valid for this endpoint.")

    async def handle_json(self, request: web.Request, target: str, request_id: str) -> web.Response:
        headers = {"x-amzn-RequestId": request_id}
        try:
            caller = await self._auth.caller(request, "sqs")
            operation, handler = self._operation(target.removeprefix(TARGET_PREFIX))
            document = json_object(await request.read())
            _check_required(document, operation.input_shape)
            _normalise_attribute_names(document, operation.input_shape)
            params = parse_request(operation, {}, _NO_QUERY, {}, msgspec.json.encode(document))
            self._authorize(caller, operation, params)
            result = await handler(params, QueueCall(_base_url(request)))
        except FireboxError as failure:
            error = sqs_error_of(failure, request_id)
            headers["x-amzn-query-error"] = f"{error.code};{error.fault}"
            body_json = {"__type": f"com.amazonaws.sqs#{error.shape}", "message": error.message}
            return web.json_response(body_json, status=error.status, headers=headers, content_type=_JSON_TYPE)
        reply = serialize_result(operation, result)
        return web.Response(status=reply.status, body=reply.body, headers=headers, content_type=_JSON_TYPE)

    async def handle_query(self, request: web.Request, request_id: str) -> web.Response:
        try:
            caller = await self._auth.caller(request, "sqs")
            form = {**request.query, **(await request.post())}
            action = form.get("Action")
            if not isinstance(action, str):
                raise MissingParameter("The request must contain the parameter Action.")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            operation, handler = self._operation(action)
            params = parse_form(operation.input_shape, fields)
            shape = operation.input_shape
            # The query protocol may address the queue by the request's path rather than a QueueUrl field.
            if shape is not None and "QueueUrl" in shape.members and "QueueUrl" not in params and request.path != "/":
                params["QueueUrl"] = _base_url(request) + request.path
            _check_required(params, shape)
            _normalise_attribute_names(params, shape)
            if shape is not None:
                validate(params, shape)
            self._authorize(caller, operation, params)
            result = await handler(params, QueueCall(_base_url(request)))
        except FireboxError as failure:
            error = sqs_error_of(failure, request_id)
            return web.Response(
                status=error.status, body=xml_error(error, request_id), content_type="text/xml",
                headers={"x-amzn-RequestId": request_id},
            )  # fmt: skip
        body = xml_result(operation.name, operation.output_shape, result, request_id)
        return web.Response(body=body, content_type="text/xml", headers={"x-amzn-RequestId": request_id})

    def _authorize(self, caller: Caller, operation: OperationModel, params: Params) -> None:
        """The key's policy must allow sqs:<Operation> on the queue the request names (on "*" for those that
        name none, such as ListQueues). Judged before the queue is looked up, so a key allowed nothing learns
        nothing of which queues exist."""
        url, name = params.get("QueueUrl"), params.get("QueueName")
        if isinstance(url, str):
            name = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        resource = self._service.arn(name) if isinstance(name, str) else "*"
        caller.require(f"sqs:{operation.name}", resource)

    def _name(self, params: Params) -> str:
        return self._service.name_of_url(params["QueueUrl"])

    # Queues

    async def create_queue(self, params: Params, call: QueueCall) -> Params:
        name = params["QueueName"]
        await self._service.create_queue(name, params.get("Attributes", {}), params.get("tags", {}))
        return {"QueueUrl": self._service.url(name, call.base_url)}

    async def get_queue_url(self, params: Params, call: QueueCall) -> Params:
        name = params["QueueName"]
        owner = params.get("QueueOwnerAWSAccountId")
        self._service.queue(name)
        if owner is not None and owner != self._service.account_id:
            raise QueueNotFound("The specified queue does not exist.")
        return {"QueueUrl": self._service.url(name, call.base_url)}

    async def list_queues(self, params: Params, call: QueueCall) -> Params:
        names = self._service.queue_names(params.get("QueueNamePrefix", ""))
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= _MAX_LISTED:
            raise InvalidQueueParameter(
                f"Value {limit} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between"
                f" 1 and {_MAX_LISTED}."
            )
        token = params.get("NextToken")
        if token is not None:
            after = _decoded_token(token)
            names = [name for name in names if name > after]
        result: Params = {}
        page = names[: limit or _MAX_LISTED]
        if page:
            result["QueueUrls"] = [self._service.url(name, call.base_url) for name in page]
        if limit is not None and len(names) > limit:
            result["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return result

    async def delete_queue(self, params: Params, call: QueueCall) -> Params:
        await self._service.delete_queue(self._name(params))
        return {}

    async def purge_queue(self, params: Params, call: QueueCall) -> Params:
        await self._service.purge(self._name(params))
        return {}

    async def get_queue_attributes(self, params: Params, call: QueueCall) -> Params:
        attributes = self._service.attributes(self._name(params), params.get("AttributeNames", []))
        return {"Attributes": attributes} if attributes else {}

    async def set_queue_attributes(self, params: Params, call: QueueCall) -> Params:
        await self._service.set_attributes(self._name(params), params.get("Attributes", {}))
        return {}

    async def tag_queue(self, params: Params, call: QueueCall) -> Params:
        await self._service.tag(self._name(params), params["Tags"])
        return {}

    async def untag_queue(self, params: Params, call: QueueCall) -> Params:
        await self._service.untag(self._name(params), params["TagKeys"])
        return {}

    async def list_queue_tags(self, params: Params, call: QueueCall) -> Params:
        tags = self._service.tags(self._name(params))
        return {"Tags": tags} if tags else {}

    async def list_dead_letter_source_queues(self, params: Params, call: QueueCall) -> Params:
        sources = self._service.dead_letter_sources(self._name(params))
        return {"queueUrls": [self._service.url(name, call.base_url) for name in sources]}

    # Messages

    async def send_message(self, params: Params, call: QueueCall) -> Params:
        sent = await self._service.send_message(self._name(params), _outgoing(params))
        return _sent(sent)

    async def send_message_batch(self, params: Params, call: QueueCall) -> Params:
        name = self._name(params)
        entries = params.get("Entries", [])
        check_batch([entry["Id"] for entry in entries], "SendMessageBatchRequestEntry")
        outgoing: list[OutgoingMessage | QueueRequestRejected] = []
        for entry in entries:
            try:
                outgoing.append(_outgoing(entry))
            except QueueRequestRejected as error:
                outgoing.append(error)
        check_batch_size(sum(message_size(m.body, m.attributes) for m in outgoing if isinstance(m, OutgoingMessage)))
        valid = [m for m in outgoing if isinstance(m, OutgoingMessage)]
        sent = iter(await self._service.send_messages(name, valid))
        outcomes = [m if isinstance(m, QueueRequestRejected) else next(sent) for m in outgoing]
        return _batch_result(entries, outcomes, lambda entry, s: {"Id": entry["Id"], **_sent(s)})

    async def receive_message(self, params: Params, call: QueueCall) -> Params:
        received = await self._service.receive(
            self._name(params),
            limit=params.get("MaxNumberOfMessages", 1),
            visibility_timeout_s=params.get("VisibilityTimeout"),
            wait_s=params.get("WaitTimeSeconds"),
        )
        system = set(params.get("MessageSystemAttributeNames", []))
        wanted = params.get("MessageAttributeNames", [])
        return {"Messages": [self._message(m, system, wanted) for m in received]} if received else {}

    def _message(self, received: ReceivedMessage, system: set[str], wanted: list[str]) -> Params:
        record = received.record
        message: Params = {
            "MessageId": record.message_id,
            "ReceiptHandle": received.receipt_handle,
            "MD5OfBody": record.md5_of_body,
            "Body": record.body,
        }
        if system:
            available = {
                "SenderId": self._service.account_id,
                "SentTimestamp": str(record.sent_ms),
                "ApproximateReceiveCount": str(received.receive_count),
                "ApproximateFirstReceiveTimestamp": str(received.first_receive_ms),
                "SequenceNumber": record.sequence_number,
                "MessageDeduplicationId": record.deduplication_id,
                "MessageGroupId": record.group_id,
                "AWSTraceHeader": record.trace_header,
                "DeadLetterQueueSourceArn": record.dead_letter_source_arn,
            }
            every = "All" in system
            message["Attributes"] = {k: v for k, v in available.items() if v is not None and (every or k in system)}
        chosen = {k: v for k, v in record.attributes.items() if _attribute_wanted(k, wanted)}
        if chosen:
            message["MessageAttributes"] = {k: _attribute_shape(v) for k, v in chosen.items()}
            message["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        return message

    async def delete_message(self, params: Params, call: QueueCall) -> Params:
        await self._service.delete_message(self._name(params), params["ReceiptHandle"])
        return {}

    async def delete_message_batch(self, params: Params, call: QueueCall) -> Params:
        name = self._name(params)
        entries = params.get("Entries", [])
        check_batch([entry["Id"] for entry in entries], "DeleteMessageBatchRequestEntry")
        outcomes = await self._service.delete_messages(name, [entry["ReceiptHandle"] for entry in entries])
        return _batch_result(entries, outcomes, lambda entry, _: {"Id": entry["Id"]})

    async def change_message_visibility(self, params: Params, call: QueueCall) -> Params:
        await self._service.change_visibility(self._name(params), params["ReceiptHandle"], params["VisibilityTimeout"])
        return {}

    async def change_message_visibility_batch(self, params: Params, call: QueueCall) -> Params:
        name = self._name(params)
        entries = params.get("Entries", [])
        check_batch([entry["Id"] for entry in entries], "ChangeMessageVisibilityBatchRequestEntry")
        changes = [(entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0)) for entry in entries]
        outcomes = await self._service.change_visibilities(name, changes)
        return _batch_result(entries, outcomes, lambda entry, _: {"Id": entry["Id"]})


_JSON_TYPE = "application/x-amz-json-1.0"


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _check_required(params: Params, shape: Shape | None) -> None:
    for name in shape.required_members if shape is not None else ():
        if params.get(name) is None:
            raise MissingParameter(f"The request must contain the parameter {name}.")


def _normalise_attribute_names(params: Params, shape: Shape | None) -> None:
    """Refuse unknown queue and message attribute names as SQS does (InvalidAttributeName, not a model
    violation). ReceiveMessage takes message attribute names in either list (AttributeNames is the older
    one): they end up in MessageSystemAttributeNames, which the model's checks then accept."""
    if shape is None:
        return
    attributes = params.get("Attributes")
    if "Attributes" in shape.members and isinstance(attributes, dict):
        for name in attributes:
            if name not in shape.members["Attributes"].key.enum:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
    lists = [member for member in ("AttributeNames", "MessageSystemAttributeNames") if member in shape.members]
    enums = [set(shape.members[member].member.enum) for member in lists]
    known = set().union(*enums)
    names: list[Any] = []
    for member in lists:
        given = params.get(member)
        names.extend(given if isinstance(given, list) else ())
    for name in names:
        if not isinstance(name, str) or name not in known:  # a list or an object is no name either
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
    if len(lists) == 2 and names:
        params.pop("AttributeNames", None)
        params["MessageSystemAttributeNames"] = [name for name in names if name in enums[1]]


def _decoded_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidQueueParameter("Invalid NextToken value.") from None


def _outgoing(params: Params) -> OutgoingMessage:
    attributes = {name: _attribute(name, value) for name, value in params.get("MessageAttributes", {}).items()}
    system = params.get("MessageSystemAttributes", {})
    if set(system) - {"AWSTraceHeader"}:
        raise InvalidQueueParameter("Message system attribute name is invalid: only AWSTraceHeader is supported.")
    trace = system.get("AWSTraceHeader")
    if trace is not None and (trace.get("DataType") != "String" or not trace.get("StringValue")):
        raise InvalidQueueParameter("The message system attribute AWSTraceHeader must be a non-empty String.")
    return OutgoingMessage(
        body=params.get("MessageBody", ""),
        attributes=attributes,
        trace_header=trace["StringValue"] if trace is not None else None,
        delay_seconds=params.get("DelaySeconds"),
        group_id=params.get("MessageGroupId"),
        deduplication_id=params.get("MessageDeduplicationId"),
    )


def _attribute(name: str, value: Params) -> MessageAttribute:
    if value.get("StringListValues") or value.get("BinaryListValues"):
        raise InvalidQueueParameter(f"Message attribute list values of '{name}' are not supported.")
    return MessageAttribute(value["DataType"], value.get("StringValue"), value.get("BinaryValue"))


def _attribute_shape(attribute: MessageAttribute) -> Params:
    shaped: Params = {"DataType": attribute.data_type}
    if attribute.binary_value is not None:
        shaped["BinaryValue"] = attribute.binary_value
    else:
        shaped["StringValue"] = attribute.string_value
    return shaped


def _attribute_wanted(name: str, wanted: list[str]) -> bool:
    for pattern in wanted:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


def _sent(sent: SentMessage) -> Params:
    result: Params = {"MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body}
    optional = {
        "MD5OfMessageAttributes": sent.md5_of_attributes,
        "MD5OfMessageSystemAttributes": sent.md5_of_system_attributes,
        "SequenceNumber": sent.sequence_number,
    }
    return result | {k: v for k, v in optional.items() if v is not None}


def _batch_result(entries: list[Params], outcomes: list[Any], success: Callable[[Params, Any], Params]) -> Params:
    successful, failed = [], []
    for entry, outcome in zip(entries, outcomes, strict=True):
        if isinstance(outcome, QueueRequestRejected):
            error = sqs_error_of(outcome, "")
            failed.append({"Id": entry["Id"], "SenderFault": True, "Code": error.code, "Message": error.message})
        else:
            successful.append(success(entry, outcome))
    return {"Successful": successful, "Failed": failed}
