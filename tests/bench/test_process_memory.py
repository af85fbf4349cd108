"""Memory and process trees read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.process_memory import children_by_parent, cmdline, memory_of, subtree, total_memory

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux's /proc")


def test_memory_of_this_process_is_positive_and_ordered() -> None:
    memory = memory_of(os.getpid())
    assert 0 < memory.uss <= memory.pss <= memory.rss


def test_an_ended_process_has_no_memory() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessLookupError):
        memory_of(child.pid)
    assert total_memory([child.pid]).rss == 0


def test_subtree_holds_a_child_and_its_command_line() -> None:
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as child:
        try:
            tree = subtree(os.getpid(), children_by_parent())
            assert tree[0] == os.getpid()
            assert child.pid in tree
            assert "sys.stdin.read()" in cmdline(child.pid)
        finally:
            child.kill()
