"""StoryCraft's composition root: load settings once, open the clients and the database,
build the core, start the adapters whose tokens are set, shut down cleanly.

    python bot.py            run the chat adapters whose tokens are set
    python bot.py console    play a story in this terminal
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import discord
import httpx
from aiohttp.web import RouteDef
from telegram.error import InvalidToken, TelegramError

from adapters.console import ConsoleView, run_console, stdin_lines
from adapters.discord_bot import DiscordAdapter, DiscordConfig
from adapters.health import Part
from adapters.operator import Operator
from adapters.telegram_bot import TelegramAdapter, TelegramConfig
from adapters.web import WebAdapter, WebConfig
from config import shipped_workflows
from config.log_setup import configure_logging
from config.settings import Settings, load_settings
from storycraft_bot import event_loop
from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.errors import (
    ModelNotInstalled,
    NarratorError,
    StorageError,
    StoryCraftError,
)
from storycraft_bot.core.fleet_narration import FleetNarratorGate
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import Language, Platform, StorySettings
from storycraft_bot.core.narrator_queue import FairNarratorQueue
from storycraft_bot.core.pending_deletions import DeletionRecords, StoredDeletions
from storycraft_bot.core.ports import (
    GpuGate,
    Illustrator,
    NullIllustrator,
    SeparateGpus,
)
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.core.routing import PlatformRouter
from storycraft_bot.core.screen_records import ScreenRecords, StoredScreens
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import (
    SECONDS_PER_UNSTREAMED_TOKEN,
    OllamaConfig,
    OllamaGateway,
)
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.fleet_queue import FleetGpuQueue, FleetLine
from storycraft_bot.pictures.gpu_memory import GpuMemory, SharedGpu
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.gpu_turns import GpuTurns
from storycraft_bot.pictures.illustrator import JOBS_PER_SERVER, ComfyIllustrator
from storycraft_bot.pictures.server_checks import style_refusals
from storycraft_bot.pictures.style_file import load_style_book
from storycraft_bot.pictures.workflow import Workflow, find_workflow, load_workflow
from storycraft_bot.storage.copy_db import copy_database
from storycraft_bot.storage.fleet import PostgresCoordination, fleet_owner
from storycraft_bot.storage.lock import DatabaseLock
from storycraft_bot.storage.target import Backend, database_target, open_store

MIB = 1024 * 1024

log = logging.getLogger("storycraft")

NO_PLATFORM = (
    "No platform is configured: set DISCORD_TOKEN or TELEGRAM_TOKEN in .env "
    "(see .env.example) or WEB_ENABLED=true to play in the browser, "
    "or run `python bot.py console` to play in this terminal."
)


def ollama_config(settings: Settings) -> OllamaConfig:
    """The gateway's part of the settings."""
    return OllamaConfig(
        model=settings.story_model,
        fallback_model=settings.fallback_model,
        options={
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "num_ctx": settings.num_ctx,
            "num_predict": settings.num_predict,
        },
        keep_alive=settings.ollama_keep_alive,
        first_token_timeout=settings.first_token_timeout,
        token_timeout=settings.token_timeout,
        retries=settings.retries,
    )


def engine_config(
    settings: Settings,
    *,
    narration_interval: float | None = None,
    styles: StyleBook | None = None,
) -> EngineConfig:
    """The engine's part of the settings."""
    return EngineConfig(
        language=Language(settings.story_language),
        genre=settings.story_genre,
        story=StorySettings(
            vote_window_seconds=settings.vote_window_seconds,
            segment_words=settings.segment_words,
            choices=settings.story_choices,
        ),
        recent_segments=settings.recent_segments,
        memory_every=settings.memory_every,
        narration_interval=narration_interval or settings.edit_interval_seconds,
        prewrite=prewrite_mode(settings),
        prewrite_cap=settings.prewrite_drafts_per_story,
        limits=AbuseLimits(
            start_cooldown_seconds=settings.start_cooldown_seconds,
            own_action_cooldown_seconds=settings.own_action_cooldown_seconds,
            stories_per_user=settings.stories_per_user,
            retries_per_part=settings.retries_per_part,
            redraws_per_part=settings.redraws_per_part,
        ),
        styles=styles or StyleBook(),
    )


def prewrite_mode(settings: Settings) -> PrewriteMode:
    """PREWRITE, unless a shared GPU forbids it (a draft could delay a picture)."""
    if settings.gpu_mode == "shared" and not settings.prewrite_in_shared_gpu:
        return PrewriteMode.OFF
    return settings.prewrite


def _with_tag(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


async def check_ollama(gateway: OllamaGateway, settings: Settings) -> str:
    """Ollama answers and has the story model; returns the model for image prompts."""
    version = await gateway.version()
    installed = {_with_tag(m) for m in await gateway.installed_models()}
    story, fallback = settings.story_model, settings.fallback_model
    if _with_tag(story) not in installed:
        if fallback and _with_tag(fallback) in installed:
            log.warning("story model %s is not installed; using the fallback %s", story, fallback)
        else:
            raise ModelNotInstalled(story)
    prompt_model = settings.image_prompt_model
    if _with_tag(prompt_model) not in installed:
        log.warning("image prompt model %s is not installed; using %s", prompt_model, story)
        prompt_model = story
    urls = ", ".join(settings.ollama_servers)
    log.info("Ollama %s at %s, story model %s", version, urls, story)
    return prompt_model


def load_configured_workflow(settings: Settings) -> Workflow:
    """The default workflow with the settings' checkpoint, size and steps put in."""
    workflow = load_workflow(find_workflow(settings.comfyui_workflow, shipped_workflows()))
    return workflow.with_values(
        _overrides(settings, checkpoint=settings.comfyui_checkpoint or None)
    )


def load_other_workflows(settings: Settings, default: Workflow) -> dict[str, Workflow]:
    """The other shipped workflows a story may choose (their own checkpoints kept)."""
    others = {}
    for path in sorted(shipped_workflows().glob("*.json")):
        if path.stem.endswith(".bindings") or path.stem == default.name:
            continue
        try:
            others[path.stem] = load_workflow(path).with_values(_overrides(settings))
        except StoryCraftError as err:
            log.warning("workflow %s is not offered: %s", path.name, err)
    return others


def _overrides(settings: Settings, **more: object) -> dict[str, object]:
    values: dict[str, object] = {
        "width": settings.picture_width or None,
        "height": settings.picture_height or None,
        "steps": settings.picture_steps or None,
        **more,
    }
    return {k: v for k, v in values.items() if v is not None}


def narrator_gate(
    capacity: Callable[[], int], clock: Clock, coordination: PostgresCoordination | None
) -> FairNarratorQueue | FleetNarratorGate:
    """The process's fair queue for the narrator; with other processes on the database,
    the fleet's narrator line instead (they share the Ollama servers)."""
    if coordination is None:
        return FairNarratorQueue(capacity, clock)
    return FleetNarratorGate(coordination, clock, capacity)


async def build_illustrator(
    settings: Settings,
    http: httpx.AsyncClient,
    gateway: OllamaGateway,
    clock: Clock,
    slots: FleetLine | None = None,
) -> tuple[Illustrator, GpuGate]:
    """ComfyUI, its queue and the GPU hand-off; text only when no server is configured.

    Every workflow is checked against each reachable server's /object_info: one a server
    cannot run is not sent there, nor offered if no server can; a default workflow no
    server can run stops start-up (WorkflowError). Unreachable servers only warn: the
    story goes on in text until they answer.
    """
    urls = settings.comfyui_servers
    if not urls:
        log.info("COMFYUI_URLS is empty: stories are told without pictures")
        return NullIllustrator(), SeparateGpus()
    workflow = load_configured_workflow(settings)
    clients = [
        ComfyClient(url, http, clock, check_every=settings.comfyui_idle_timeout) for url in urls
    ]
    depth = 1 if settings.gpu_mode == "shared" else JOBS_PER_SERVER
    per_guild = settings.pictures_per_guild
    total = settings.pictures_total or depth * len(clients)
    every = settings.edit_interval_seconds
    # With other processes on the database (`slots`), the caps count their pictures too.
    queue: GpuTurns = (
        FleetGpuQueue(slots, clock, per_guild=per_guild, total=total, report_interval=every)
        if slots is not None
        else GpuQueue(per_guild=per_guild, total=total, clock=clock, report_interval=every)
    )
    memory = None
    gate: GpuGate = SeparateGpus()
    if settings.gpu_mode == "shared":
        memory = GpuMemory(
            gateway,
            clients,
            picture_min_free=settings.picture_min_free_vram_mb * MIB,
            text_min_free=settings.text_min_free_vram_mb * MIB,
        )
        gate = SharedGpu(queue, memory)
    illustrator = ComfyIllustrator(
        ServerPool(clients, clock, recheck_seconds=settings.comfyui_recheck_seconds),
        queue,
        workflow,
        settings.data_dir / "pictures",
        clock,
        report_interval=settings.edit_interval_seconds,
        memory=memory,
        others=load_other_workflows(settings, workflow),
    )
    await illustrator.check_servers()  # ServerTooOld or an unusable default stop start-up
    log.info("pictures by ComfyUI at %s with workflow %s", ", ".join(urls), workflow.name)
    return illustrator, gate


async def picture_styles(settings: Settings, illustrator: Illustrator) -> StyleBook:
    """The built-in styles and the operator's file, without those no server can draw (a
    LoRA or VAE missing from every answering server, logged once each). SettingsError for
    a bad file."""
    book = load_style_book(settings.picture_styles_file)
    if not isinstance(illustrator, ComfyIllustrator):
        return book
    refused = await style_refusals(illustrator.servers, book, illustrator.workflow_names)
    offered = book.without(refused)
    log.info("picture styles: %s", ", ".join(offered.names))
    return offered


async def run(settings: Settings, *, console: bool) -> int:
    """Build everything, run until stopped, close everything. Returns the exit code."""
    chats = settings.discord_token is not None or settings.telegram_token is not None
    if not console and not chats and not settings.web_enabled:
        print(NO_PLATFORM, file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    # A streamed read waits at most for the next token; a whole (unstreamed) reply may take
    # as long as its length allows. The gateway's watchdog bounds both more tightly.
    longest = settings.first_token_timeout + SECONDS_PER_UNSTREAMED_TOKEN * settings.num_predict
    timeout = httpx.Timeout(settings.connect_timeout, read=max(longest, settings.token_timeout))
    async with contextlib.AsyncExitStack() as stack:
        database = database_target(settings.database_url.get_secret_value(), settings.database_path)
        if database.backend is Backend.SQLITE:
            stack.enter_context(DatabaseLock(database.path))  # one process per file
        clock = SystemClock()
        pool = await stack.enter_async_context(
            open_pool(
                settings.ollama_servers,
                clock,
                parallel=settings.ollama_parallel,
                timeouts=timeout,
                recheck_seconds=settings.ollama_recheck_seconds,
            )
        )
        gateway = OllamaGateway(pool, ollama_config(settings), clock=clock)
        try:
            prompt_model = await check_ollama(gateway, settings)
        except NarratorError as err:
            where = (
                f"OLLAMA_URLS={settings.ollama_urls}"
                if settings.ollama_urls
                else (f"OLLAMA_URL={settings.ollama_url}")
            )
            print(f"storycraft: {err} ({where})", file=sys.stderr)
            return 1
        comfy_http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=settings.connect_timeout))
        )
        writable_folder(settings.data_dir, "DATA_DIR")
        store = await stack.enter_async_context(
            open_store(database, pool_size=settings.database_pool_size)
        )
        coordination = None
        if database.backend is Backend.POSTGRES:  # other processes may share it
            coordination = await stack.enter_async_context(
                PostgresCoordination(
                    database.url,
                    fleet_owner(),
                    lease_seconds=settings.fleet_lease_seconds,
                    sweep_seconds=settings.fleet_sweep_seconds,
                    lock_connections=settings.database_pool_size,
                )
            )
        illustrator, gate = await build_illustrator(
            settings, comfy_http, gateway, clock, coordination
        )
        if isinstance(illustrator, ComfyIllustrator):
            # Closed before the database, so a cancelled picture never reports into it.
            stack.push_async_callback(illustrator.close)
        styles = await picture_styles(settings, illustrator)
        router = PlatformRouter()
        narration = narrator_gate(pool.capacity, clock, coordination)
        comfyui = illustrator.clients if isinstance(illustrator, ComfyIllustrator) else ()
        operator = Operator(clock, store, gateway, narration, comfyui)
        stack.push_async_callback(operator.stop)
        engine = StoryEngine(
            store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, prompt_model),
            illustrator,
            operator.view(router),
            clock,
            engine_config(settings, narration_interval=0.1 if console else None, styles=styles),
            gpu=gate,
            narration=narration,
            coordination=coordination,
        )
        stack.push_async_callback(engine.shutdown)
        if console:
            view = ConsoleView(sys.stdout, Language(settings.story_language))
            router.register(Platform.CONSOLE, view)
            await engine.resume([Platform.CONSOLE])
            game = asyncio.create_task(
                run_console(
                    engine, view, stdin_lines(), sys.stdout, books=settings.data_dir / "books"
                )
            )
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({game, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not game.done():
                game.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await game
            return 0
        running = []
        screens = StoredScreens(store)
        # The "picture style" option: the workflows, then the styles (core/styles.py).
        styles_offered = (
            (*illustrator.workflow_names, *styles.names)
            if isinstance(illustrator, ComfyIllustrator)
            else ()
        )
        if settings.telegram_token is not None:
            deletions = StoredDeletions(store, Platform.TELEGRAM)
            telegram = await start_telegram(
                settings, engine, screens, router, styles_offered, clock, deletions
            )
            if telegram is not None:
                stack.push_async_callback(telegram.stop)
                running.append(Platform.TELEGRAM)
                operator.watch(Part.TELEGRAM, telegram)
        if settings.discord_token is not None:
            discord_adapter = await start_discord(
                settings, engine, screens, router, styles_offered, clock
            )
            if discord_adapter is not None:
                stack.push_async_callback(discord_adapter.stop)
                running.append(Platform.DISCORD)
                operator.watch(Part.DISCORD, discord_adapter)
        # /healthz and /metrics: their own port when set, else the web adapter's server.
        beside_web = operator.routes() if not settings.metrics_port else []
        if settings.web_enabled:
            web = await start_web(settings, engine, screens, router, clock, beside_web)
            if web is not None:
                stack.push_async_callback(web.stop)
                running.append(Platform.WEB)
                operator.watch(Part.WEB, web)
        if settings.metrics_port:
            await operator.serve_alone(settings.metrics_host, settings.metrics_port)
        if not running:
            print("storycraft: no platform could be started (see the log above)", file=sys.stderr)
            return 1
        await engine.resume(running)
        event_loop.settle()
        log.info(
            "StoryCraft is running on %s; stop with Ctrl-C", ", ".join(p.value for p in running)
        )
        await stop.wait()
        log.info("shutting down")
        return 0


async def start_discord(
    settings: Settings,
    engine: StoryEngine,
    screens: ScreenRecords,
    router: PlatformRouter,
    workflows: tuple[str, ...],
    clock: Clock,
) -> DiscordAdapter | None:
    """The Discord adapter, logged in and connecting; None (and one log line) if refused."""
    assert settings.discord_token is not None
    adapter = DiscordAdapter(
        engine,
        screens,
        DiscordConfig(
            token=settings.discord_token.get_secret_value(),
            data_dir=settings.data_dir,
            test_guild=settings.discord_test_guild,
            edit_interval=max(1.0, settings.edit_interval_seconds),  # Discord: <= 1 edit/s
            language=Language(settings.story_language),
            workflows=workflows,
            web_url=settings.web_public_url,
            shard_count=settings.shard_count,
            shard_ids=settings.discord_shard_ids,
        ),
        clock,
    )
    router.register(Platform.DISCORD, adapter)  # before connecting: interactions may come at once
    try:
        await adapter.start()
    except discord.LoginFailure:
        log.error(
            "Discord refused DISCORD_TOKEN: check it in the Developer Portal; Discord stays off"
        )
    except (discord.HTTPException, OSError) as err:
        log.error("Discord could not start (%s: %s); Discord stays off", type(err).__name__, err)
    else:
        return adapter
    router.unregister(Platform.DISCORD)
    await adapter.stop()
    return None


async def start_web(
    settings: Settings,
    engine: StoryEngine,
    screens: ScreenRecords,
    router: PlatformRouter,
    clock: Clock,
    extra_routes: Sequence[RouteDef] = (),
) -> WebAdapter | None:
    """The web adapter, listening; None (and one log line) if its port is taken.
    `extra_routes` (the operator's) are served beside its own."""
    token = settings.web_token.get_secret_value() if settings.web_token else ""
    config = WebConfig(
        host=settings.web_host,
        port=settings.web_port,
        token=token,
        public_url=settings.web_public_url,
        pictures_dir=settings.data_dir / "pictures",
        language=Language(settings.story_language),
    )
    adapter = WebAdapter(engine, screens, config, clock)
    adapter.app.add_routes(extra_routes)
    router.register(Platform.WEB, adapter)
    try:
        address = await adapter.start()
    except OSError as err:
        router.unregister(Platform.WEB)
        log.error("the web adapter could not listen on %s:%s (%s)", config.host, config.port, err)
        return None
    hint = " (add ?token=<WEB_TOKEN> once)" if token else ""
    print(f"StoryCraft in the browser: {address}{hint}", flush=True)
    return adapter


async def start_telegram(
    settings: Settings,
    engine: StoryEngine,
    screens: ScreenRecords,
    router: PlatformRouter,
    workflows: tuple[str, ...],
    clock: Clock,
    deletions: DeletionRecords | None = None,
) -> TelegramAdapter | None:
    """The Telegram adapter, started; None (and one log line) if Telegram refuses."""
    assert settings.telegram_token is not None
    token = settings.telegram_token.get_secret_value()
    api = settings.telegram_api_url
    secret = settings.telegram_webhook_secret
    adapter = TelegramAdapter(
        engine,
        screens,
        TelegramConfig(
            token=token,
            base_url=f"{api}/bot",
            base_file_url=f"{api}/file/bot",
            private_edit_interval=settings.edit_interval_seconds,
            group_edit_interval=settings.group_edit_interval_seconds,
            language=Language(settings.story_language),
            workflows=workflows,
            web_url=settings.web_public_url,
            webhook_url=settings.telegram_webhook_url,
            webhook_secret=secret.get_secret_value() if secret else "",
            webhook_host=settings.telegram_webhook_host,
            webhook_port=settings.telegram_webhook_port,
        ),
        clock,
        deletions,
    )
    router.register(Platform.TELEGRAM, adapter)  # before polling: updates may come at once
    try:
        await adapter.start()
    except InvalidToken:
        router.unregister(Platform.TELEGRAM)
        log.error("Telegram refused TELEGRAM_TOKEN: check it with @BotFather; Telegram stays off")
        return None
    except TelegramError as err:
        reason = str(err).replace(token, "<token>")  # never log the secret
        log.error(
            "Telegram could not start (%s: %s); Telegram stays off", type(err).__name__, reason
        )
        router.unregister(Platform.TELEGRAM)
        await adapter.stop()
        return None
    except OSError as err:
        where = f"{settings.telegram_webhook_host}:{settings.telegram_webhook_port}"
        log.error(
            "the Telegram webhook could not listen on %s (%s); Telegram stays off", where, err
        )
        router.unregister(Platform.TELEGRAM)
        await adapter.stop()
        return None
    return adapter


def writable_folder(folder: Path, setting: str) -> None:
    """Create the folder if needed; StorageError (one line naming the setting) if unusable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StorageError(f"cannot create {folder} ({setting}): {err.strerror or err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"cannot write to {folder} ({setting})")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, load settings, run; one clear line on any start-up error."""
    # python-telegram-bot 22 is moving time periods from int to timedelta; opting in now
    # keeps its RetryAfter (a 429) from raising a deprecation warning on every flood wait.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    parser = argparse.ArgumentParser(prog="bot.py", description="StoryCraft story bot")
    parser.add_argument(
        "mode",
        nargs="?",
        choices=["console", "copy-db"],
        help="console: play in this terminal; copy-db: copy a SQLite database into PostgreSQL",
    )
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    parser.add_argument("--from", dest="source", help="copy-db: sqlite:///path/to/file")
    parser.add_argument("--to", dest="target", help="copy-db: postgresql://user@host/database")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env_file)
    except StoryCraftError as err:
        print(f"storycraft: {err}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        [
            *(
                s.get_secret_value()
                for s in (
                    settings.discord_token,
                    settings.telegram_token,
                    settings.web_token,
                    settings.telegram_webhook_secret,
                )
                if s
            ),
            urlsplit(settings.database_url.get_secret_value()).password or "",
        ],
        quiet=args.mode == "console",  # keep the story readable
        form=settings.log_format,
    )
    if args.mode == "copy-db":
        return copy_db(args.source, args.target)
    try:
        return event_loop.run(run(settings, console=args.mode == "console"))
    except StoryCraftError as err:
        print(f"storycraft: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def copy_db(source: str | None, target: str | None) -> int:
    """`bot.py copy-db --from sqlite:///… --to postgresql://…`; 0 when copied."""
    if not source or not target:
        print(
            "storycraft: copy-db needs --from sqlite:///… and --to postgresql://…", file=sys.stderr
        )
        return 2
    try:
        copied = asyncio.run(
            copy_database(database_target(source, Path()), database_target(target, Path()))
        )
    except (StoryCraftError, ValueError) as err:
        print(f"storycraft: copy-db: {err}", file=sys.stderr)
        return 1
    print("copied " + ", ".join(f"{table}: {rows}" for table, rows in copied.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
