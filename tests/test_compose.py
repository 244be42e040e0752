"""compose.yaml, read as Docker Compose reads it (no Docker daemon here): the services,
their health checks, the GPU reservation, and every bot's environment loaded through
the real Settings, so a misspelt variable or a bad value fails here, not in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import Settings, load_settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"
BOTS = ("bot-1", "bot-2")
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")  # ${NAME:-default}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merge keys (<<) included
    assert isinstance(loaded, dict)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's variables, `${NAME:-default}` as Compose fills it with NAME unset."""
    return {k: DEFAULTED.sub(r"\2", str(v)) for k, v in service["environment"].items()}


def test_the_services_are_all_there(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", "ollama", "comfyui", *BOTS}
    assert services(compose)["ollama"]["image"].startswith("ollama/ollama")
    assert services(compose)["postgres"]["image"].startswith("postgres:")


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck", {}).get("test")
        assert check, f"{name} has no health check"
        assert check[0] in ("CMD", "CMD-SHELL"), name


def test_each_bot_checks_its_own_healthz(compose: dict[str, Any]) -> None:
    for name in BOTS:
        service = services(compose)[name]
        port = environment(service)["METRICS_PORT"]
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])


def test_the_gpu_is_reserved_for_ollama_and_comfyui(compose: dict[str, Any]) -> None:
    for name in ("ollama", "comfyui"):
        devices = services(compose)[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any("gpu" in device["capabilities"] for device in devices), name


def test_the_bots_share_postgres_and_reach_the_other_services(compose: dict[str, Any]) -> None:
    postgres = environment(services(compose)["postgres"])
    urls = set()
    for name in BOTS:
        service = services(compose)[name]
        env = environment(service)
        user, password, db = (
            postgres[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
        )
        assert env["DATABASE_URL"] == f"postgresql://{user}:{password}@postgres:5432/{db}"
        urls.add(env["DATABASE_URL"])
        assert env["OLLAMA_URL"] == "http://ollama:11434"
        assert env["COMFYUI_URLS"] == "http://comfyui:8188"
        assert {"postgres", "ollama", "comfyui"} <= set(service["depends_on"])
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert any(volume.endswith(":/data") for volume in service["volumes"])
    assert len(urls) == 1  # one database for the fleet


def test_the_bots_split_the_discord_shards(compose: dict[str, Any]) -> None:
    counts = {environment(services(compose)[name])["SHARD_COUNT"] for name in BOTS}
    assert len(counts) == 1
    ids = sorted(int(environment(services(compose)[name])["SHARD_IDS"]) for name in BOTS)
    assert ids == list(range(int(counts.pop())))  # every shard run once


def test_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    used = {
        volume.split(":")[0]
        for service in services(compose).values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used <= set(compose["volumes"])


@pytest.mark.parametrize("name", BOTS)
def test_each_bot_environment_is_valid_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = environment(services(compose)[name])
    assert {key.lower() for key in env} <= set(Settings.model_fields), "unknown variables"
    monkeypatch.chdir(tmp_path)
    for key in list(Settings.model_fields):
        monkeypatch.delenv(key.upper(), raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(None)
    assert settings.database_url.get_secret_value().startswith("postgresql://")
    assert settings.metrics_port > 0
    assert settings.metrics_host == "0.0.0.0"  # reachable by the health check and Prometheus
    assert settings.log_format == "json"
