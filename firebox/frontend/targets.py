"""Where asynchronous outcomes may go: checks for the ARNs of dead-letter queues and destinations.

Firebox delivers to its own queues and functions. AWS also accepts SNS topics, event buses and S3 buckets;
Firebox has none of those, so it refuses them rather than accept records it could never deliver.
"""

from __future__ import annotations

import re

from firebox.errors import InvalidParameter

_QUEUE = re.compile(r"^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$")
_FUNCTION = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$")


def check_dead_letter_target(arn: str) -> None:
    if not _QUEUE.match(arn):
        raise InvalidParameter(
            f"The target ARN {arn} of DeadLetterConfig is invalid: Firebox sends dead letters to queues "
            "(arn:aws:sqs:REGION:ACCOUNT:NAME)"
        )


def check_destination(arn: str) -> None:
    if not (_QUEUE.match(arn) or _FUNCTION.match(arn)):
        raise InvalidParameter(
            f"The destination ARN {arn} is invalid: Firebox delivers to queues (arn:aws:sqs:...) and functions "
            "(arn:aws:lambda:...:function:NAME)"
        )
