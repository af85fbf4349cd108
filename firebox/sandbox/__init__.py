"""Sandbox backends: where an execution environment's processes run, and how isolated they are."""

from firebox.sandbox.base import ExitCause, Sandbox, SandboxBackend, SandboxExit, SandboxSpec
from firebox.sandbox.process import ProcessBackend

__all__ = ["ExitCause", "ProcessBackend", "Sandbox", "SandboxBackend", "SandboxExit", "SandboxSpec"]
