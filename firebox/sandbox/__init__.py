"""Sandbox backends: where an execution environment's processes run, and how isolated they are."""

from firebox.sandbox.base import (
    Executable,
    ExitCause,
    Launch,
    Network,
    PythonRuntime,
    Sandbox,
    SandboxBackend,
    SandboxExit,
    SandboxSpec,
)
from firebox.sandbox.cgroups import CgroupTree
from firebox.sandbox.namespaces import NamespaceBackend, NamespaceSettings, unavailable_reason
from firebox.sandbox.parent_death import die_with_parent
from firebox.sandbox.process import ProcessBackend

__all__ = [
    "CgroupTree",
    "Executable",
    "ExitCause",
    "Launch",
    "NamespaceBackend",
    "NamespaceSettings",
    "Network",
    "ProcessBackend",
    "PythonRuntime",
    "Sandbox",
    "SandboxBackend",
    "SandboxExit",
    "SandboxSpec",
    "die_with_parent",
    "unavailable_reason",
]
