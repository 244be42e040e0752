"""Settings from the environment and .env; one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import engine_config
from config.settings import Settings, load_settings
from storycraft_bot.core.errors import SettingsError
from storycraft_bot.core.prewriting import PrewriteMode


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings a developer's shell may hold must not leak into these tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_need_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.ollama_url == "http://127.0.0.1:11434"
    assert settings.story_language == "ru"
    assert settings.discord_token is None
    assert settings.telegram_token is None
    assert settings.image_prompt_model == settings.story_model


def test_env_file_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "OLLAMA_URL=http://gpu-box:11434/\nSTORY_CHOICES=4\nTELEGRAM_TOKEN=123:abc\nDISCORD_TOKEN=\n"
    )
    monkeypatch.setenv("STORY_LANGUAGE", "en")

    settings = load_settings(env)

    assert settings.ollama_url == "http://gpu-box:11434"
    assert settings.story_choices == 4
    assert settings.story_language == "en"
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)
    assert settings.discord_token is None  # blank means unset


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("STORY_CHOICES", "7", "STORY_CHOICES: Input should be less than or equal to 4"),
        ("TEMPERATURE", "hot", "TEMPERATURE: Input should be a valid number"),
        ("OLLAMA_URL", "localhost:11434", "OLLAMA_URL: Value error, must start with http://"),
        ("STORY_LANGUAGE", "de", "STORY_LANGUAGE: Input should be 'ru' or 'en'"),
    ],
)
def test_a_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    documented = {
        line.split("=")[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line
    }
    assert {name.upper() for name in Settings.model_fields} <= documented


@pytest.mark.parametrize(
    ("value", "sent"), [("5m", "5m"), ("1h30m", "1h30m"), ("300", 300), ("-1", -1), ("0", 0)]
)
def test_keep_alive_follows_ollamas_grammar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, sent: str | int
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEEP_ALIVE", value)
    assert load_settings(None).ollama_keep_alive == sent  # a number goes as a JSON number


def test_prewriting_defaults_to_auto_and_stays_off_on_a_shared_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert engine_config(load_settings(None)).prewrite is PrewriteMode.AUTO
    monkeypatch.setenv("GPU_MODE", "shared")
    assert engine_config(load_settings(None)).prewrite is PrewriteMode.OFF
    monkeypatch.setenv("PREWRITE_IN_SHARED_GPU", "true")
    monkeypatch.setenv("PREWRITE", "leader")
    monkeypatch.setenv("PREWRITE_DRAFTS_PER_STORY", "2")
    config = engine_config(load_settings(None))
    assert (config.prewrite, config.prewrite_cap) == (PrewriteMode.LEADER, 2)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,2"}, "SHARD_IDS [2] are not below SHARD_COUNT 2"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0;1"}, "SHARD_IDS: Value error, must be shard"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "²"}, "SHARD_IDS: Value error, must be shard"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "names a shard twice"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT: Input should be greater than or equal to 1"),
    ],
)
def test_shards_must_fit_their_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    assert says in str(caught.value)


def test_shards_read_as_numbers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(None).discord_shard_ids is None
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", " 2, 03 ")
    settings = load_settings(None)
    assert settings.shard_count == 4
    assert settings.discord_shard_ids == (2, 3)
