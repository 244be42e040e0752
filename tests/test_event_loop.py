"""The bot runs on uvloop where it is installed (the lock installs it on Linux)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import uvloop

from storycraft_bot import event_loop


async def _loop_and_answer() -> tuple[type[asyncio.AbstractEventLoop], int]:
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(done.set_result, 42)
    return type(asyncio.get_running_loop()), await done


def test_the_bot_runs_its_coroutine_on_uvloop() -> None:
    loop_class, answer = event_loop.run(_loop_and_answer())
    assert issubclass(loop_class, uvloop.Loop)
    assert answer == 42


def test_settling_freezes_the_start_up_heap_and_hands_the_gil_over_sooner() -> None:
    # In a process of its own: both settings are the whole process's.
    probe = (
        "import gc, sys\n"
        "from storycraft_bot import event_loop\n"
        "before = sys.getswitchinterval()\n"
        "event_loop.settle()\n"
        "print(before, sys.getswitchinterval(), gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(out[0]) == 0.005  # Python's default
    assert float(out[1]) == event_loop.SWITCH_INTERVAL < 0.005
    assert out[2:] == ["7000", "True"]
