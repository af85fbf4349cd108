"""The frontend: the Lambda API over HTTP, validated against botocore's model, mapped to AWS errors."""

from firebox.frontend.app import LambdaApi
from firebox.frontend.context import Frontend

__all__ = ["Frontend", "LambdaApi"]
