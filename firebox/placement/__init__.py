"""Placement: the worker fleet, and where a new execution environment goes."""

from firebox.placement.placement import Placement

__all__ = ["Placement"]
