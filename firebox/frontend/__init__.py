"""The frontend: the Lambda API over HTTP, validated against botocore's model, mapped to AWS errors."""

from firebox.frontend.access_keys import KeysApi, ensure_admin_key
from firebox.frontend.app import LambdaApi
from firebox.frontend.authentication import Authenticator
from firebox.frontend.context import Frontend
from firebox.frontend.invoke import FunctionCalls

__all__ = ["Authenticator", "Frontend", "FunctionCalls", "KeysApi", "LambdaApi", "ensure_admin_key"]
