"""The `firebox` command line."""

from firebox.cli.main import main

__all__ = ["main"]
