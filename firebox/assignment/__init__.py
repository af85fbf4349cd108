"""Assignment: hands each invocation to a warm execution environment, or starts a new one."""

from firebox.assignment.assignment import Assignment
from firebox.assignment.concurrency import MIN_UNRESERVED, Concurrency, ScalingLimit
from firebox.assignment.provisioned import ProvisionedStatus

__all__ = ["MIN_UNRESERVED", "Assignment", "Concurrency", "ProvisionedStatus", "ScalingLimit"]
