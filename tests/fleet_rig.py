"""Several real `bot.py` processes on one real PostgreSQL, serving one Telegram bot.

Telegram hands each update to one receiver (a webhook, or one long poller: two pollers
of one token get 409 Conflict). So the fake Bot API here keeps one world of chats and
messages for the bot but gives each process a token of its own and an inbox of its own:
the test decides which process receives each update (`inbox`), as a load balancer in
front of webhook replicas would. Every edit and send of either process lands on the
same messages, so what one process sent the other can edit.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fake_telegram import FakeTelegram
from tests.test_bot_cli import BOT, bot_env

#: One token per process; the same bot (Telegram would see one webhook, several replicas).
TOKENS = ("123456:FLEET-one", "123456:FLEET-two")
_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default=TOKENS[0])


@dataclass
class SharedTelegram(FakeTelegram):
    """The fake Bot API with one inbox per process token; `inbox` receives what users do."""

    tokens: tuple[str, ...] = TOKENS
    inbox: str = TOKENS[0]
    _inboxes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _arrived: dict[str, asyncio.Event] = field(default_factory=dict)
    _handed: dict[str, set[int]] = field(default_factory=dict)

    def to(self, process: int) -> SharedTelegram:
        """What users do next reaches process `process` (0 or 1)."""
        self.inbox = self.tokens[process]
        return self

    def received(self, process: int) -> int:
        """How many updates process `process` was handed."""
        return len(self._handed.get(self.tokens[process], set()))

    def polling(self, process: int) -> bool:
        """Whether process `process` has asked for updates yet."""
        return self.tokens[process] in self._inboxes

    async def _handle(self, request: web.Request) -> web.Response:
        _CALLER.set(request.match_info["token"])
        return await super()._handle(request)

    def _push(self, payload: dict[str, Any]) -> None:
        self._inboxes.setdefault(self.inbox, []).append(
            {"update_id": next(self._update_ids), **payload}
        )
        self._arrived.setdefault(self.inbox, asyncio.Event()).set()

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        token = _CALLER.get()
        inbox = self._inboxes.setdefault(token, [])
        arrived = self._arrived.setdefault(token, asyncio.Event())
        offset = int(params.get("offset", 0) or 0)
        if offset:
            inbox[:] = [u for u in inbox if u["update_id"] >= offset]  # confirmed
        timeout = float(params.get("timeout", 0) or 0)
        if not inbox and timeout:
            arrived.clear()
            try:
                async with asyncio.timeout(timeout):
                    await arrived.wait()
            except TimeoutError:
                pass
        handed = inbox[: int(params.get("limit", 100) or 100)]
        self._handed.setdefault(token, set()).update(u["update_id"] for u in handed)
        return handed


@dataclass
class Fleet:
    """The running processes, by index; `kill(i)` is kill -9."""

    processes: list[asyncio.subprocess.Process]
    folders: list[Path]

    def kill(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)

    def log(self, index: int) -> str:
        """What the process logged so far (a file: a full pipe would stall it)."""
        return (self.folders[index] / "stderr.log").read_text(encoding="utf-8")


@asynccontextmanager
async def fleet(
    tmp_path: Path, tg: SharedTelegram, settings: dict[str, str], count: int = 2, first: int = 0
) -> AsyncIterator[Fleet]:
    """`count` bot processes from process number `first` on, each polling its own token,
    with these settings (one DATABASE_URL); those still alive are stopped with SIGTERM
    afterwards."""
    processes = []
    folders = []
    try:
        for index in range(first, first + count):
            folder = tmp_path / f"process-{index}"
            folder.mkdir()
            folders.append(folder)
            env = bot_env(
                folder,
                TELEGRAM_TOKEN=tg.tokens[index],
                TELEGRAM_API_URL=tg.url,
                WEB_ENABLED="false",
                **settings,
            )
            # The child keeps its own copy of the log's descriptor; ours closes at once.
            with (folder / "stderr.log").open("wb") as log:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(BOT),
                    "--env-file",
                    str(folder / "none.env"),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log,
                    cwd=folder,
                    env=env,
                )
            processes.append(process)
            # One process at a time: the first migrates, the next finds it done.
            await tg.wait_until(lambda i=index: tg.polling(i), seconds=30)
        yield Fleet(processes, folders)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
