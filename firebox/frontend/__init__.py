"""The frontend: the Lambda API over HTTP, validated against botocore's model, mapped to AWS errors."""

from firebox.frontend.app import LambdaApi
from firebox.frontend.context import Frontend
from firebox.frontend.invoke import FunctionCalls

__all__ = ["Frontend", "FunctionCalls", "LambdaApi"]
