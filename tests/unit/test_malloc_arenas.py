"""The page server bounds the C allocator's pools (glibc's arenas), unless the environment already does."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CALL = "from monitor.cli.main import bound_malloc_arenas; print(bound_malloc_arenas())"


def bounded(env: dict[str, str]) -> str:
    """What ``bound_malloc_arenas`` returns in a fresh process with ``env`` (a process-wide setting stays there)."""
    result = subprocess.run([sys.executable, "-c", CALL], env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_the_page_server_keeps_the_allocator_to_one_pool_unless_told_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert bounded(env) == "True"
    assert bounded({**env, "MALLOC_ARENA_MAX": "4"}) == "False"  # the operator's own setting stands
