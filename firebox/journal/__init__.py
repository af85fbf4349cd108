"""The journal: where assignment writes down every execution environment's state, so that a restarted
server knows what its predecessor had."""

from firebox.journal.environments import EnvironmentJournal
from firebox.journal.records import EnvironmentRecord, EnvironmentState

__all__ = ["EnvironmentJournal", "EnvironmentRecord", "EnvironmentState"]
