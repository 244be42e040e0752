"""The event loop the bot runs on: uvloop where it is installed (every platform but
Windows), else asyncio's own. The bot's CPU goes mostly to waking up for streamed
chunks; under load (bench/load_run.py) uvloop takes about 15 % off the CPU per segment."""

from __future__ import annotations

import asyncio
import gc
import sys
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


def settle() -> None:
    """Once started, for a process that is busy for hours:

    - what start-up built lives as long as the process, so the cyclic collector stops
      walking it (`gc.freeze`) and collects the young generation a tenth as often. Busy
      stories allocate fast; with the defaults, full collections of ~100 ms came every
      few seconds at 500 busy channels (bench/load_run.py) and stalled every story;
    - SQLite's thread gets the GIL within 0.5 ms of asking, not 5 ms: it asks several
      times a query (sqlite3 lets go of it while SQLite works), and while the event loop
      was busy each query waited up to 5 ms a time, so every turn waited behind a slow
      queue of queries (500 busy channels: p99 overhead 120-265 ms before, 84-119 after).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 100)
    sys.setswitchinterval(SWITCH_INTERVAL)


#: How long a thread holds the GIL while another waits for it (Python's default: 5 ms).
SWITCH_INTERVAL = 0.0005
