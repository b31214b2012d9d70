"""The C allocator of a long-running kapmon: one pool (glibc's arenas) unless the environment says otherwise, and
memory freed by the page server's connection threads given back to the system."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time

import pytest

from monitor.allocator import Releaser

GLIBC = platform.libc_ver()[0] == "glibc"
CALL = "from monitor.allocator import bound_malloc_arenas; print(bound_malloc_arenas())"

# In a fresh process: 60 MB in blocks the C allocator serves from its heap, every tenth kept so the heap cannot
# shrink from its top, the rest freed; the resident memory before and after giving the free pages back.
FRAGMENTED = """
import os
from monitor.allocator import release_freed
page = os.sysconf("SC_PAGE_SIZE")
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
blocks = [bytearray(1500) for _ in range(40_000)]
kept = blocks[::10]
del blocks
before = resident()
released = release_freed()
print(released, before - resident())
"""


def run(code: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")
def test_the_page_server_keeps_the_allocator_to_one_pool_unless_told_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert run(CALL, env) == "True"
    assert run(CALL, {**env, "MALLOC_ARENA_MAX": "4"}) == "False"  # the operator's own setting stands


@pytest.mark.skipif(not GLIBC or not os.path.exists("/proc/self/statm"), reason="glibc's allocator, Linux's /proc")
def test_freed_memory_inside_the_heap_goes_back_to_the_system():
    released, smaller = run(FRAGMENTED, dict(os.environ)).split()
    assert released == "True"
    assert int(smaller) > 20e6  # of about 54 MB freed between the kept blocks


def test_memory_freed_together_goes_back_in_one_release_a_while_later():
    done = threading.Event()
    releases: list[float] = []

    def release() -> None:
        releases.append(time.monotonic())
        done.set()

    releaser = Releaser(after_s=0.3, release=release)
    first = time.monotonic()
    for _ in range(50):  # 50 connections ending together
        releaser.freed()
    assert done.wait(10)
    assert len(releases) == 1 and releases[0] - first >= 0.3
    done.clear()
    releaser.freed()  # a later one: its own release
    assert done.wait(10)
    assert len(releases) == 2 and releases[1] - releases[0] >= 0.3

