"""The event loop the bot runs on: uvloop where it is installed (every platform but
Windows), else asyncio's own. The bot's CPU goes mostly to waking up for streamed
chunks; under load (bench/load_run.py) uvloop takes about 15 % off the CPU per segment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's new_event_loop, or None (asyncio's default) where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on the faster loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
