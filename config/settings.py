"""StoryCraft's settings: environment variables and an optional `.env` file.

Built once by `load_settings()` in the composition root and passed down; nothing reads
the environment at import time.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storycraft_bot.core.errors import SettingsError
from storycraft_bot.core.prewriting import PrewriteMode


class Settings(BaseSettings):
    """Every setting, with its environment variable name in capitals (see .env.example)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Ollama
    ollama_url: str = "http://127.0.0.1:11434"
    ollama_urls: str = ""  # several servers, comma-separated; OLLAMA_URL when empty
    ollama_parallel: int = Field(1, ge=1, le=256)  # Ollama's own OLLAMA_NUM_PARALLEL default
    ollama_recheck_seconds: float = Field(30.0, gt=0, le=3600)
    story_model: str = "llama3.1:8b"
    fallback_model: str = ""
    prompt_model: str = ""
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    num_ctx: int = Field(8192, ge=512)
    num_predict: int = Field(1500, ge=64, le=32768)
    keep_alive: str = "10m"
    connect_timeout: float = Field(5.0, gt=0, le=300)
    first_token_timeout: float = Field(60.0, gt=0, le=3600)
    token_timeout: float = Field(60.0, gt=0, le=3600)
    retries: int = Field(2, ge=0, le=10)

    # Storage
    database_path: Path = Path("data/storycraft.sqlite3")
    # sqlite:///path or postgresql://user:password@host/name; empty: DATABASE_PATH.
    database_url: SecretStr = SecretStr("")
    database_pool_size: int = Field(10, ge=1, le=200)  # PostgreSQL connections per process
    data_dir: Path = Path("data")
    # Several processes on one PostgreSQL: a segment's writer renews its lease this often
    # (a third of it); a process looks for work a dead one left every FLEET_SWEEP_SECONDS.
    fleet_lease_seconds: float = Field(30.0, ge=0.5, le=3600)
    fleet_sweep_seconds: float = Field(5.0, ge=0.1, le=3600)

    # Story defaults
    story_language: Literal["ru", "en"] = "ru"
    story_genre: str = "fantasy"
    segment_words: int = Field(120, ge=30, le=600)
    story_choices: int = Field(3, ge=2, le=4)
    recent_segments: int = Field(3, ge=1, le=10)
    memory_every: int = Field(4, ge=1, le=50)
    vote_window_seconds: float = Field(60.0, ge=5, le=3600)
    edit_interval_seconds: float = Field(1.0, ge=0.2, le=30)
    group_edit_interval_seconds: float = Field(3.0, ge=0.5, le=60)

    # Limits on abuse (0 turns one off); presses and votes are never limited
    start_cooldown_seconds: float = Field(30.0, ge=0, le=86400)
    own_action_cooldown_seconds: float = Field(20.0, ge=0, le=86400)
    stories_per_user: int = Field(3, ge=0, le=1000)
    retries_per_part: int = Field(5, ge=0, le=1000)
    redraws_per_part: int = Field(5, ge=0, le=1000)

    # ComfyUI (pictures); empty COMFYUI_URLS: text only
    comfyui_urls: str = ""
    comfyui_workflow: str = "sd15"
    comfyui_checkpoint: str = ""
    picture_width: int = Field(0, ge=0, le=4096)
    picture_height: int = Field(0, ge=0, le=4096)
    picture_steps: int = Field(0, ge=0, le=200)
    pictures_per_guild: int = Field(1, ge=1, le=16)
    pictures_total: int = Field(0, ge=0, le=64)
    comfyui_idle_timeout: float = Field(120.0, gt=0, le=3600)
    comfyui_recheck_seconds: float = Field(30.0, gt=0, le=3600)
    gpu_mode: Literal["separate", "shared"] = "separate"
    picture_min_free_vram_mb: int = Field(3072, ge=0)
    text_min_free_vram_mb: int = Field(2048, ge=0)
    # Operators' picture styles (TOML, see storycraft_bot/pictures/style_file.py); none:
    # the built-in styles only.
    picture_styles_file: Path | None = None

    # Instant turns: continuations written in advance while players choose. "auto":
    # every choice in a private chat, the vote's leader in a group; "leader", "all", "off".
    prewrite: PrewriteMode = PrewriteMode.AUTO
    prewrite_drafts_per_story: int = Field(3, ge=0, le=10)
    # With GPU_MODE=shared a draft could delay a picture players wait for: off unless allowed.
    prewrite_in_shared_gpu: bool = False

    # Platforms (secrets)
    discord_token: SecretStr | None = None
    discord_test_guild: int | None = Field(None, gt=0)
    # Discord sharding across processes: SHARD_COUNT shards in all, this process runs
    # SHARD_IDS (comma-separated, e.g. "0,1"; empty: all of them). Unset: one connection.
    shard_count: int | None = Field(None, ge=1, le=4096)
    shard_ids: str = ""
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # Updates by webhook instead of long polling (several processes behind one URL):
    # Telegram POSTs to TELEGRAM_WEBHOOK_URL, which a proxy forwards to this process's
    # TELEGRAM_WEBHOOK_HOST:TELEGRAM_WEBHOOK_PORT, same path.
    telegram_webhook_url: str = ""
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_host: str = "127.0.0.1"
    telegram_webhook_port: int = Field(8081, ge=1, le=65535)

    # The web adapter (a story page per story, in the browser)
    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    web_token: SecretStr | None = None
    web_public_url: str = ""

    # /healthz and /metrics: on a server of their own when METRICS_PORT is set (0: on the
    # web adapter's server when it runs, else nowhere). Loopback unless told otherwise.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("ollama_url", "telegram_api_url")
    @classmethod
    def _url_is_whole(cls, value: str) -> str:
        return check_url(value)

    @field_validator("web_public_url", "telegram_webhook_url")
    @classmethod
    def _public_url_is_whole(cls, value: str) -> str:
        return check_url(value) if value.strip() else ""

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_form(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's own rule for secret_token: 1-256 of A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_has_a_secret(self) -> Settings:
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET")
        return self

    @model_validator(mode="after")
    def _web_token_off_loopback(self) -> Settings:
        if self.web_enabled and self.web_token is None and not is_loopback(self.web_host):
            raise ValueError(f"WEB_TOKEN is required when WEB_HOST is {self.web_host!r}")
        return self

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        ids = self.discord_shard_ids
        if ids is not None and self.shard_count is None:
            raise ValueError("SHARD_IDS needs SHARD_COUNT (the number of shards in all)")
        if ids is not None and self.shard_count is not None:
            wrong = [i for i in ids if i >= self.shard_count]
            if wrong:
                raise ValueError(f"SHARD_IDS {wrong} are not below SHARD_COUNT {self.shard_count}")
        return self

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids_form(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise ValueError("must be shard numbers separated by commas, e.g. 0,1")
        if len(set(parts)) != len(parts):
            raise ValueError("names a shard twice")
        return ",".join(str(int(part)) for part in parts)

    @field_validator(
        "discord_token",
        "telegram_token",
        "discord_test_guild",
        "web_token",
        "shard_count",
        "telegram_webhook_secret",
        "picture_styles_file",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("comfyui_urls", "ollama_urls")
    @classmethod
    def _urls_are_whole(cls, value: str) -> str:
        return ",".join(check_url(url) for url in value.split(",") if url.strip())

    @field_validator("database_url")
    @classmethod
    def _database_url_form(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///path/to/file or postgresql://user@host/database")
        return SecretStr(url)

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive_grammar(cls, value: str) -> str:
        keep_alive_value(value)  # raises ValueError with the grammar
        return value.strip()

    @property
    def ollama_keep_alive(self) -> str | float:
        """KEEP_ALIVE as Ollama reads it: a number of seconds is sent as a JSON number."""
        return keep_alive_value(self.keep_alive)

    @property
    def ollama_servers(self) -> list[str]:
        """OLLAMA_URLS split at commas, else the one OLLAMA_URL."""
        urls = [url.strip().rstrip("/") for url in self.ollama_urls.split(",") if url.strip()]
        return urls or [self.ollama_url.rstrip("/")]

    @property
    def comfyui_servers(self) -> list[str]:
        """COMFYUI_URLS split at commas."""
        return [url.strip().rstrip("/") for url in self.comfyui_urls.split(",") if url.strip()]

    @property
    def discord_shard_ids(self) -> tuple[int, ...] | None:
        """SHARD_IDS as numbers; None when empty (every shard, or no sharding)."""
        return tuple(int(part) for part in self.shard_ids.split(",")) if self.shard_ids else None

    @property
    def image_prompt_model(self) -> str:
        """The model for image prompts: its own setting, else the story model."""
        return self.prompt_model or self.story_model


# Go's time.ParseDuration grammar, which Ollama uses for a keep_alive string.
_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+")


def keep_alive_value(text: str) -> str | float:
    """Ollama's keep_alive: a number of seconds (negative: for ever, 0: unload at once) or
    a Go duration such as 5m, 1h30m, 300s; anything else raises ValueError."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        if _GO_DURATION.fullmatch(text) is None:
            raise ValueError(
                "must be a duration such as 5m, 1h30m or 300s, a number of seconds, "
                "or -1 (for ever) / 0 (unload at once)"
            ) from None
        return text
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number of seconds")
    return int(seconds) if seconds.is_integer() else seconds


def is_loopback(host: str) -> bool:
    """The host name or address is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str) -> str:
    """An http(s) URL parsed whole: scheme, host, a port in range; returned without a
    trailing slash. Raises ValueError naming what is wrong."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https:// (got {url!r})")
    try:
        port = parts.port  # raises for a port out of range or not a number
    except ValueError:
        raise ValueError(f"bad port in {url!r} (1-65535)") from None
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    if port == 0:
        raise ValueError(f"bad port in {url!r} (1-65535)")
    if parts.query or parts.fragment:
        raise ValueError(f"no query or fragment allowed in {url!r}")
    return url.rstrip("/")


def load_settings(env_file: Path | str | None = ".env") -> Settings:
    """Build the settings, or raise SettingsError with one line naming the variable."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
            problems.append(f"{name}: {item['msg']}")
        raise SettingsError("invalid setting " + "; ".join(problems)) from None
