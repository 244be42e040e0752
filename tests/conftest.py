"""Shared fixtures: the fake Ollama server, a real SQLite file, and a fully wired engine."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from config import shipped_workflows
from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import ChannelKey, Language, Place, Platform, StorySettings
from storycraft_bot.core.ports import Illustrator, NullIllustrator
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.core.routing import PlatformRouter
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_memory import GpuMemory, SharedGpu
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.illustrator import ComfyIllustrator
from storycraft_bot.pictures.workflow import Workflow, load_workflow
from storycraft_bot.storage.fleet import PostgresCoordination
from storycraft_bot.storage.postgres import PostgresStore
from storycraft_bot.storage.sqlite import Store
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import FakeTelegram
from tests.fakes import FakeClock, RecordingIllustrator, RecordingView
from tests.postgres_server import PostgresServer, PostgresUnavailable

WORKFLOWS = shipped_workflows()
PRIVATE = Place(ChannelKey(Platform.TELEGRAM, "1001"), guild_id="tg:1001", is_group=False)
GROUP = Place(ChannelKey(Platform.DISCORD, "2002"), guild_id="g1", is_group=True)


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    server = FakeOllama()
    await server.start()
    yield server
    await server.stop()


# Modules whose `store` runs on both backends; elsewhere it is SQLite only (cheaper).
BOTH_BACKENDS = {
    "tests.test_storage",
    "tests.test_engine_story",
    "tests.test_engine_votes",
    "tests.test_own_actions",
    "tests.test_safety",
    "tests.test_engine_arc",
    "tests.test_faces_storage",
}
AnyStore = Store | PostgresStore
StoreFactory = Callable[..., AnyStore]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.module.__name__ in BOTH_BACKENDS:
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run; its tests fail (never skip) without one."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as err:
        server.stop()
        pytest.fail(str(err), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """New, unopened stores on this test's one database (a second call reopens it);
    `migrations` names another folder of numbered files for that backend."""
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.fresh_url()
        return lambda migrations=None: PostgresStore(url, pool_size=4, migrations=migrations)
    return lambda migrations=None: Store(tmp_path / "story.sqlite3", migrations)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[AnyStore]:
    async with make_store() as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def view() -> RecordingView:
    return RecordingView()


def gateway_config(**changes: object) -> OllamaConfig:
    base: dict[str, object] = {
        "model": "llama3.1:8b",
        "fallback_model": "qwen2.5:3b",
        "first_token_timeout": 5.0,
        "token_timeout": 10.0,
        "retries": 2,
        "backoff_base": 0.01,
        "backoff_max": 0.02,
    }
    base.update(changes)
    return OllamaConfig(**base)  # type: ignore[arg-type]


GatewayFactory = Callable[..., Awaitable[OllamaGateway]]


@pytest.fixture
async def make_gateway(fake_ollama: FakeOllama) -> AsyncIterator[GatewayFactory]:
    """Builds gateways on the real ollama client, httpx and aiohttp (the story stream's
    own client), as bot.py opens them (open_pool), pointed at the fake."""
    async with AsyncExitStack() as pools:

        async def build(
            url: str | None = None, clock: Clock | None = None, **changes: object
        ) -> OllamaGateway:
            pool = await pools.enter_async_context(
                open_pool(
                    [url or fake_ollama.url],
                    clock or SystemClock(),
                    parallel=1,
                    timeouts=httpx.Timeout(2.0),
                )
            )
            return OllamaGateway(pool, gateway_config(**changes), random.Random(7), clock=clock)

        yield build


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> OllamaGateway:
    return await make_gateway()


EngineFactory = Callable[..., StoryEngine]


@pytest.fixture
async def make_engine(
    gateway: OllamaGateway, clock: FakeClock, view: RecordingView
) -> AsyncIterator[EngineFactory]:
    """Engines on the real narrator over the fake Ollama; each one shut down afterwards."""
    built: list[StoryEngine] = []

    def build(
        store: Store, *, seed: int = 1, illustrator: Illustrator | None = None, **config: object
    ) -> StoryEngine:
        settings: dict[str, object] = {
            "language": Language.EN,
            "story": StorySettings(vote_window_seconds=60.0),
        }
        settings.update(config)
        engine = StoryEngine(
            store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, "qwen2.5:3b"),
            illustrator or RecordingIllustrator(),
            view,
            clock,
            EngineConfig(**settings),  # type: ignore[arg-type]
            random.Random(seed),
        )
        built.append(engine)
        return engine

    yield build
    for engine in built:
        await engine.shutdown()


@pytest.fixture
def engine(make_engine: EngineFactory, store: Store) -> StoryEngine:
    return make_engine(store)


@pytest.fixture
async def fake_comfy() -> AsyncIterator[FakeComfyUI]:
    server = FakeComfyUI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def comfy_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def comfy_client(fake_comfy: FakeComfyUI, comfy_http: httpx.AsyncClient) -> ComfyClient:
    return ComfyClient(fake_comfy.url, comfy_http, SystemClock(), check_every=2.0, backoff=0.01)


def sd15_workflow(**values: object) -> Workflow:
    """The shipped SD1.5 workflow, set to the fake's checkpoint and a tiny size."""
    workflow = load_workflow(WORKFLOWS / "sd15.json")
    defaults: dict[str, object] = {
        "checkpoint": "random-sd15.safetensors",
        "width": 64,
        "height": 64,
        "steps": 4,
    }
    defaults.update(values)
    return workflow.with_values(defaults)


@dataclass
class PictureRig:
    """An engine wired to real ComfyUI clients over the fake servers."""

    engine: StoryEngine
    illustrator: ComfyIllustrator
    queue: GpuQueue
    pool: ServerPool
    pictures: Path


RigFactory = Callable[..., Awaitable[PictureRig]]


@pytest.fixture
async def make_rig(
    gateway: OllamaGateway,
    clock: FakeClock,
    view: RecordingView,
    store: Store,
    comfy_http: httpx.AsyncClient,
    tmp_path: Path,
) -> AsyncIterator[RigFactory]:
    rigs: list[PictureRig] = []

    async def build(
        servers: list[str],
        *,
        shared_gpu: bool = False,
        per_guild: int = 1,
        total: int | None = None,
        workflow: Workflow | None = None,
        min_free: int = 0,
        engine_store: Store | None = None,
        seed: int = 1,
        others: dict[str, Workflow] | None = None,
    ) -> PictureRig:
        clients = [
            ComfyClient(url, comfy_http, SystemClock(), check_every=2.0, backoff=0.01, reconnects=1)
            for url in servers
        ]
        pool = ServerPool(clients, clock, recheck_seconds=30)
        queue = GpuQueue(per_guild=per_guild, total=total or len(servers))
        memory = (
            GpuMemory(gateway, clients, picture_min_free=min_free, text_min_free=min_free)
            if shared_gpu
            else None
        )
        pictures = tmp_path / "pictures"
        illustrator = ComfyIllustrator(
            pool,
            queue,
            workflow or sd15_workflow(),
            pictures,
            clock,
            memory=memory,
            rng=random.Random(seed),
            others=others,
        )
        engine = StoryEngine(
            engine_store or store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, "qwen2.5:3b"),
            illustrator,
            view,
            clock,
            EngineConfig(language=Language.EN, story=StorySettings(vote_window_seconds=60.0)),
            random.Random(seed),
            gpu=SharedGpu(queue, memory) if memory is not None else None,
        )
        rig = PictureRig(engine, illustrator, queue, pool, pictures)
        rigs.append(rig)
        return rig

    yield build
    for rig in rigs:
        await rig.engine.shutdown()
        await rig.illustrator.close()


def pytest_configure(config: pytest.Config) -> None:
    # As bot.py does: python-telegram-bot's timedelta time periods, without its warning.
    os.environ.setdefault("PTB_TIMEDELTA", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--comfyui-url", default="", help="run the opt-in test against this ComfyUI")
    parser.addoption(
        "--comfyui-checkpoint", default="", help="checkpoint for the real ComfyUI test"
    )
    parser.addoption("--ollama-url", default="", help="run the opt-in test against this Ollama")
    parser.addoption("--ollama-model", default="llama3.1:8b", help="model for the real Ollama test")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@dataclass
class Core:
    """The engine as bot.py builds it, before any adapter: for adapter tests."""

    engine: StoryEngine
    router: PlatformRouter
    illustrator: Illustrator


CoreFactory = Callable[..., Core]


@pytest.fixture
async def make_core(
    gateway: OllamaGateway,
    clock: FakeClock,
    store: Store,
    comfy_http: httpx.AsyncClient,
    tmp_path: Path,
) -> AsyncIterator[CoreFactory]:
    """Engines on the fake Ollama (and the fake ComfyUI when given), routing to adapters."""
    cores: list[Core] = []

    def build(
        comfy: FakeComfyUI | None = None,
        prewrite: PrewriteMode = PrewriteMode.OFF,
        limits: AbuseLimits | None = None,
    ) -> Core:
        illustrator: Illustrator = NullIllustrator()
        if comfy is not None:
            client = ComfyClient(
                comfy.url, comfy_http, SystemClock(), check_every=2, backoff=0.01, reconnects=1
            )
            illustrator = ComfyIllustrator(
                ServerPool([client], clock),
                GpuQueue(),
                sd15_workflow(),
                tmp_path / "pictures",
                clock,
                rng=random.Random(len(cores)),
            )
        router = PlatformRouter()
        engine = StoryEngine(
            store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, "qwen2.5:3b"),
            illustrator,
            router,
            clock,
            # 600 words: the narrator keeps a part within 10 characters a word, and the
            # adapter tests need parts longer than one message.
            EngineConfig(
                language=Language.EN,
                story=StorySettings(vote_window_seconds=60, segment_words=600),
                prewrite=prewrite,
                limits=limits or AbuseLimits(),
            ),
            random.Random(3),
        )
        core = Core(engine, router, illustrator)
        cores.append(core)
        return core

    yield build
    for core in cores:
        await core.engine.shutdown()
        if isinstance(core.illustrator, ComfyIllustrator):
            await core.illustrator.close()


#: Two processes' coordination on one database, for the fleet's lines and claims.
FleetPair = tuple[PostgresCoordination, PostgresCoordination]
FLEET_LEASE = 30.0


@pytest.fixture
async def fleet_db(postgres_server: PostgresServer) -> AsyncIterator[tuple[str, PostgresStore]]:
    """A fresh, migrated PostgreSQL database: its URL and a store on it."""
    url = postgres_server.fresh_url()
    async with PostgresStore(url, pool_size=4) as store:
        yield url, store


@pytest.fixture
async def pair(fleet_db: tuple[str, PostgresStore]) -> AsyncIterator[FleetPair]:
    """Two processes ("first", "second") coordinating on `fleet_db`."""
    url, _ = fleet_db
    async with (
        PostgresCoordination(url, "first", lease_seconds=FLEET_LEASE, lock_connections=3) as one,
        PostgresCoordination(url, "second", lease_seconds=FLEET_LEASE, lock_connections=3) as two,
    ):
        yield one, two
