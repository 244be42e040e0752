"""The bot runs on uvloop where it is installed (the lock installs it on Linux)."""

from __future__ import annotations

import asyncio

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
