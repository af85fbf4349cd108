"""Assignment: hands each invocation to a warm execution environment, or starts a new one."""

from firebox.assignment.assignment import Assignment

__all__ = ["Assignment"]
