"""Pictures with two real `bot.py` processes on one real PostgreSQL (tests/fleet_rig.py):
each picture has one drawer. A process starting beside a live one leaves its pictures to
it, a picture whose process was killed is finished by the other, once, and a stop at the
other process cancels the picture being drawn (ComfyUI deletes it from its queue)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.fleet_rig import Fleet, SharedTelegram, fleet
from tests.postgres_server import PostgresServer
from tests.test_fleet import FAST, query, wait_part
from tests.test_telegram import answer_of, eventually, keyboard

ALICE, BOB = 611, 612
CLAIMS = "SELECT count(*) FROM fleet_claims WHERE kind = 'picture'"


@pytest.fixture
async def tg() -> AsyncIterator[SharedTelegram]:
    server = SharedTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def comfy() -> AsyncIterator[FakeComfyUI]:
    server = FakeComfyUI()
    await server.start()
    server.hold = True  # a picture stays queued on the GPU until released
    yield server
    await server.stop()


@pytest.fixture
def settings(
    postgres_server: PostgresServer, fake_ollama: FakeOllama, comfy: FakeComfyUI
) -> dict[str, str]:
    return {
        "DATABASE_URL": postgres_server.fresh_url(),
        "OLLAMA_URL": fake_ollama.url,
        "COMFYUI_URLS": comfy.url,
        "COMFYUI_CHECKPOINT": "random-sd15.safetensors",
        **FAST,
        "VOTE_WINDOW_SECONDS": "600",  # one part, one picture
    }


def photos(tg: SharedTelegram, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in tg.bot_messages(chat_id) if "photo" in m]


async def picture_on_the_gpu(tg: SharedTelegram, comfy: FakeComfyUI, chat_id: int) -> None:
    """Alice starts a story through process 0; its first picture is queued on ComfyUI."""
    group = tg.group_chat(chat_id)
    tg.to(0).send_text(group, tg.user(ALICE, "Alice"), "/story@StoryCraftBot start")
    await wait_part(tg, chat_id, 1)
    await tg.wait_until(lambda: len(comfy.posted_prompts()) == 1, seconds=30)


def deletions(comfy: FakeComfyUI) -> list[Any]:
    return comfy.calls("POST", "/queue")


def logged(running: Fleet, index: int, line: str) -> Any:
    async def check() -> bool:
        return line in running.log(index)

    return check


async def test_a_process_starting_beside_a_live_one_leaves_its_picture_to_it(
    tmp_path: Path, tg: SharedTelegram, comfy: FakeComfyUI, settings: dict[str, str]
) -> None:
    async with fleet(tmp_path, tg, settings, count=1) as first:
        await picture_on_the_gpu(tg, comfy, -3101)
        async with fleet(tmp_path, tg, settings, count=1, first=1) as second:
            await eventually(logged(second, 0, "resumed 1 stories"), tries=1500)
            # Said by the resumed story's picture task, which may run after that line.
            await eventually(logged(second, 0, "is drawn by another process"), tries=1500)
            comfy.release()
            await tg.wait_until(lambda: photos(tg, -3101), seconds=30)
            await eventually(lambda: _no_claims(settings), tries=1500)
            assert len(comfy.posted_prompts()) == 1  # drawn once, by its first process
            assert len(photos(tg, -3101)) == 1
        assert "Traceback" not in first.log(0) + second.log(0)


async def test_a_picture_whose_process_was_killed_is_finished_by_the_other_once(
    tmp_path: Path, tg: SharedTelegram, comfy: FakeComfyUI, settings: dict[str, str]
) -> None:
    async with fleet(tmp_path, tg, settings) as two:
        await picture_on_the_gpu(tg, comfy, -3102)

        two.kill(0)  # kill -9 while its picture waits on the GPU
        assert await two.processes[0].wait() == -9
        await eventually(logged(two, 1, "1 pictures left by their process"), tries=1500)
        await eventually(logged(two, 1, "picture of segment 0 taken over"), tries=1500)

        comfy.release()
        await tg.wait_until(lambda: photos(tg, -3102), seconds=30)
        await eventually(lambda: _no_claims(settings), tries=1500)
        # The other process waited for the prompt already queued instead of drawing anew.
        assert len(comfy.posted_prompts()) == 1
        assert len(photos(tg, -3102)) == 1
        assert query(settings["DATABASE_URL"], "SELECT image_state FROM segments") == [("ready",)]
        assert two.log(1).count("pictures left by their process") == 1


async def test_a_stop_at_the_other_process_cancels_the_picture_being_drawn(
    tmp_path: Path, tg: SharedTelegram, comfy: FakeComfyUI, settings: dict[str, str]
) -> None:
    async with fleet(tmp_path, tg, settings) as two:
        await picture_on_the_gpu(tg, comfy, -3103)
        prompt_id = comfy.posted_prompts()[0]["prompt_id"]

        tg.to(1).send_text(tg.group_chat(-3103), tg.user(ALICE, "Alice"), "/stop@StoryCraftBot")

        await eventually(logged(two, 0, "no longer ours to draw, cancelled"), tries=1500)
        await tg.wait_until(
            lambda: any(
                prompt_id in (c or {}).get("delete", []) for c in comfy.calls("POST", "/queue")
            ),
            seconds=30,
        )
        assert comfy.pending == []  # deleted from ComfyUI's queue: never drawn
        assert not photos(tg, -3103)
        assert query(settings["DATABASE_URL"], "SELECT state FROM sessions") == [("stopped",)]


async def _no_claims(settings: dict[str, str]) -> bool:
    return query(settings["DATABASE_URL"], CLAIMS) == [(0,)]


async def close_part(tg: SharedTelegram, chat_id: int, part: int, process: int) -> None:
    """Bob votes on part `part` and Alice closes the vote, both through `process`."""
    group = tg.group_chat(chat_id)
    mid = (await wait_part(tg, chat_id, part))["message_id"]
    first = next(data for _, data in keyboard(tg.messages[(chat_id, mid)]) if data[:2] == "c:")
    assert await answer_of(tg, tg.to(process).press(group, tg.user(BOB, "Bob"), mid, first))
    close = await tg.wait_until(
        lambda: next((d for lbl, d in keyboard(tg.messages[(chat_id, mid)]) if "⏹" in lbl), None)
    )
    tg.to(process).press(group, tg.user(ALICE, "Alice"), mid, close)


async def test_a_newer_picture_at_one_process_replaces_the_storys_waiting_one_at_the_other(
    tmp_path: Path, tg: SharedTelegram, comfy: FakeComfyUI, settings: dict[str, str]
) -> None:
    async with fleet(tmp_path, tg, {**settings, "PICTURES_TOTAL": "1"}) as two:
        await picture_on_the_gpu(tg, comfy, -3104)  # part 1's picture, process 0's
        await close_part(tg, -3104, 1, process=1)
        await eventually(logged(two, 1, "waits: the fleet is at its caps"), tries=1500)

        await close_part(tg, -3104, 2, process=0)  # part 3 is written by process 0

        await eventually(logged(two, 1, "replaced by a newer picture"), tries=1500)
        comfy.release()
        await tg.wait_until(lambda: len(photos(tg, -3104)) == 2, seconds=30)
        await eventually(lambda: _no_claims(settings), tries=1500)
        assert len(comfy.posted_prompts()) == 2  # parts 1 and 3; part 2's never drawn
        states = query(settings["DATABASE_URL"], "SELECT idx, image_state FROM segments")
        assert sorted(states) == [(0, "ready"), (1, "none"), (2, "ready")]
        assert query(settings["DATABASE_URL"], "SELECT count(*) FROM fleet_queue") == [(0,)]
