"""The `/story` slash commands as Discord shows them: options, choices, their Russian
names and descriptions (an app_commands.Translator), each handed to the adapter."""

from __future__ import annotations

from typing import Any, Protocol

import discord
from discord import app_commands

from storycraft_bot.core.models import (
    IllustrateMode,
    NoVoteRule,
    Participation,
    Rating,
    StoryLength,
)

from .blocked_words import Blocking
from .commands import Command


class CommandHandler(Protocol):
    """What the commands ask of the Discord adapter (adapters/discord_bot.py)."""

    async def on_start(
        self,
        interaction: discord.Interaction,
        premise: str,
        genre: str | None,
        language: str | None,
        rating: Rating | None = None,
        *,
        length: StoryLength | None = None,
        participation: Participation | None = None,
        files: tuple[discord.Attachment | None, discord.Attachment | None] = (None, None),
        style: str | None = None,
    ) -> None: ...

    async def on_lorebook(
        self, interaction: discord.Interaction, file: discord.Attachment
    ) -> None: ...

    async def on_command(self, interaction: discord.Interaction, command: Command) -> None: ...

    def workflow_choices(self, current: str) -> list[app_commands.Choice[str]]: ...

    def style_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """The picture styles a new story may start in, as the player types."""
        ...

    async def on_settings(
        self,
        interaction: discord.Interaction,
        vote_window: int | None,
        pictures: bool | None,
        workflow: str | None = None,
        rating: Rating | None = None,
        own_actions: bool | None = None,
        blocking: Blocking | None = None,
        *,
        participation: Participation | None = None,
        no_votes: NoVoteRule | None = None,
        illustrate: IllustrateMode | None = None,
    ) -> None: ...

    async def on_defaults(
        self,
        interaction: discord.Interaction,
        vote_window: int | None,
        pictures: bool | None,
        workflow: str | None,
        threads: bool | None,
        rating: Rating | None = None,
    ) -> None: ...


RUSSIAN = {
    "Interactive illustrated stories": "Интерактивные истории с картинками",
    "Start a story in this channel": "Начать историю в этом канале",
    "What the story is about (optional)": "О чём история (необязательно)",
    "Genre of the story": "Жанр истории",
    "Language of the story": "Язык истории",
    "End the story": "Закончить историю",
    "What is going on": "Что сейчас происходит",
    "Rewrite the newest part": "Переписать последнюю часть",
    "Take the last choice back": "Отменить последний выбор",
    "Draw the newest picture again": "Нарисовать картинку заново",
    "Change the story's settings": "Изменить настройки истории",
    "Seconds a vote stays open": "Сколько секунд идёт голосование",
    "Pictures on or off": "Картинки вкл./выкл.",
    "How to play": "Как играть",
    "The story as an illustrated book": "История книгой с картинками",
    "Defaults for new stories on this server": "Настройки новых историй на этом сервере",
    "Picture style": "Стиль картинок",
    "Each story in its own thread": "Каждая история в своём треде",
    "workflow": "стиль",
    "threads": "треды",
    "premise": "завязка",
    "genre": "жанр",
    "language": "язык",
    "vote_window": "голосование",
    "pictures": "картинки",
    "Fantasy": "Фэнтези",
    "Science fiction": "Фантастика",
    "Horror": "Ужасы",
    "Mystery": "Детектив",
    "Fairy tale": "Сказка",
    "Content rating (mature only in age-restricted channels)": (
        "Рейтинг (для взрослых — только в каналах с возрастным ограничением)"
    ),
    "rating": "рейтинг",
    "block": "запретить",
    "unblock": "разрешить",
    "blocked": "запреты",
    "Block a word, a phrase or a /regex/ here (administrators)": (
        "Запретить здесь слово, фразу или /регулярное выражение/ (администраторы)"
    ),
    "Unblock a word or pattern (administrators)": "Снять запрет со слова (администраторы)",
    "List the blocked words (administrators)": "Показать запрещённые слова (администраторы)",
    "Safe": "Для всех",
    "Teen": "12+",
    "Mature": "Для взрослых",
    "Players may type their own action": "Игроки могут писать своё действие",
    "own_actions": "свои_действия",
    "How long the story runs": "Длина истории",
    "Who chooses in a group": "Кто выбирает в группе",
    "Who decides when nobody votes": "Кто решает, если никто не голосует",
    "length": "длина",
    "mode": "кто_выбирает",
    "no_votes": "без_голосов",
    "Short (about 8 parts)": "Короткая (около 8 частей)",
    "Medium (about 15 parts)": "Средняя (около 15 частей)",
    "Long (about 30 parts)": "Длинная (около 30 частей)",
    "Endless": "Бесконечная",
    "Only the starter chooses": "Выбирает только начавший",
    "Anyone: the first press decides": "Любой: решает первое нажатие",
    "A timed vote": "Голосование по времени",
    "A random choice": "Случайный вариант",
    "The starter": "Начавший историю",
    "A SillyTavern character card to start from (PNG or JSON)": (
        "Карточка персонажа SillyTavern, с которой начать (PNG или JSON)"
    ),
    "A lorebook for the story (World Info JSON)": "Лорбук для истории (JSON World Info)",
    "Attach a lorebook to the story": "Подключить лорбук к истории",
    "The lorebook (SillyTavern World Info JSON)": "Лорбук (JSON World Info из SillyTavern)",
    "card": "карточка",
    "lorebook": "лорбук",
    "file": "файл",
    "illustrate": "картинки_когда",
    "Which parts get a picture": "К каким частям рисовать картинку",
    "Every part": "К каждой части",
    "When the scene changes": "При смене сцены",
    "style": "стиль_картинок",
    "Picture style (default: the genre's)": "Стиль картинок (по умолчанию — по жанру)",
}
#: The ratings the commands offer.
RATING_CHOICES = [
    app_commands.Choice(name=name, value=rating.value)
    for name, rating in (("Safe", Rating.SAFE), ("Teen", Rating.TEEN), ("Mature", Rating.MATURE))
]
RATING_HELP = "Content rating (mature only in age-restricted channels)"
#: Issue 16: a story's length, who chooses, and what decides a vote nobody joins.
LENGTH_CHOICES = [
    app_commands.Choice(name=name, value=length.value)
    for name, length in (
        ("Short (about 8 parts)", StoryLength.SHORT),
        ("Medium (about 15 parts)", StoryLength.MEDIUM),
        ("Long (about 30 parts)", StoryLength.LONG),
        ("Endless", StoryLength.ENDLESS),
    )
]
MODE_CHOICES = [
    app_commands.Choice(name=name, value=mode.value)
    for name, mode in (
        ("Only the starter chooses", Participation.STARTER),
        ("Anyone: the first press decides", Participation.ANYONE),
        ("A timed vote", Participation.VOTE),
    )
]
NO_VOTE_CHOICES = [
    app_commands.Choice(name=name, value=rule.value)
    for name, rule in (("A random choice", NoVoteRule.RANDOM), ("The starter", NoVoteRule.STARTER))
]
#: Which parts get a picture (issue 16).
ILLUSTRATE_CHOICES = [
    app_commands.Choice(name=name, value=mode.value)
    for name, mode in (
        ("Every part", IllustrateMode.EVERY_PART),
        ("When the scene changes", IllustrateMode.SCENE_CHANGE),
    )
]


class RussianTranslator(app_commands.Translator):
    """Command names and descriptions in Russian for Russian Discord clients."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: Any
    ) -> str | None:
        if locale is discord.Locale.russian:
            return RUSSIAN.get(string.message)
        return None


class StoryCommands(app_commands.Group):
    """`/story ...`"""

    def __init__(self, adapter: CommandHandler) -> None:
        super().__init__(name="story", description="Interactive illustrated stories")
        self.adapter = adapter

    @app_commands.command(name="start", description="Start a story in this channel")
    @app_commands.describe(
        premise="What the story is about (optional)",
        genre="Genre of the story",
        language="Language of the story",
        rating=RATING_HELP,
        length="How long the story runs",
        mode="Who chooses in a group",
        card="A SillyTavern character card to start from (PNG or JSON)",
        lorebook="A lorebook for the story (World Info JSON)",
        style="Picture style (default: the genre's)",
    )
    @app_commands.choices(
        genre=[
            app_commands.Choice(name="Fantasy", value="fantasy"),
            app_commands.Choice(name="Science fiction", value="sci-fi"),
            app_commands.Choice(name="Horror", value="horror"),
            app_commands.Choice(name="Mystery", value="mystery"),
            app_commands.Choice(name="Fairy tale", value="fairy tale"),
        ],
        language=[
            app_commands.Choice(name="Русский", value="ru"),
            app_commands.Choice(name="English", value="en"),
        ],
        rating=RATING_CHOICES,
        length=LENGTH_CHOICES,
        mode=MODE_CHOICES,
    )
    async def start(
        self,
        interaction: discord.Interaction,
        premise: str | None = None,
        genre: app_commands.Choice[str] | None = None,
        language: app_commands.Choice[str] | None = None,
        rating: app_commands.Choice[str] | None = None,
        length: app_commands.Choice[str] | None = None,
        mode: app_commands.Choice[str] | None = None,
        card: discord.Attachment | None = None,
        lorebook: discord.Attachment | None = None,
        style: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await self.adapter.on_start(
            interaction,
            premise or "",
            genre.value if genre else None,
            language.value if language else None,
            Rating(rating.value) if rating else None,
            length=StoryLength(length.value) if length else None,
            participation=Participation(mode.value) if mode else None,
            files=(card, lorebook),
            style=style,
        )

    @start.autocomplete("style")
    async def _start_styles(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.adapter.style_choices(current)

    @app_commands.command(name="stop", description="End the story")
    async def stop(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.STOP)

    @app_commands.command(name="status", description="What is going on")
    async def status(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.STATUS)

    @app_commands.command(name="retry", description="Rewrite the newest part")
    async def retry(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.RETRY)

    @app_commands.command(name="undo", description="Take the last choice back")
    async def undo(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.UNDO)

    @app_commands.command(name="redraw", description="Draw the newest picture again")
    async def redraw(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.REDRAW)

    @app_commands.command(name="settings", description="Change the story's settings")
    @app_commands.describe(
        vote_window="Seconds a vote stays open",
        pictures="Pictures on or off",
        workflow="Picture style",
        rating=RATING_HELP,
        own_actions="Players may type their own action",
        block="Block a word, a phrase or a /regex/ here (administrators)",
        unblock="Unblock a word or pattern (administrators)",
        blocked="List the blocked words (administrators)",
        mode="Who chooses in a group",
        no_votes="Who decides when nobody votes",
        illustrate="Which parts get a picture",
    )
    @app_commands.choices(
        vote_window=[app_commands.Choice(name=f"{s} s", value=s) for s in (30, 60, 120, 300)]
    )
    @app_commands.choices(rating=RATING_CHOICES, mode=MODE_CHOICES, no_votes=NO_VOTE_CHOICES)
    @app_commands.choices(illustrate=ILLUSTRATE_CHOICES)
    async def settings(
        self,
        interaction: discord.Interaction,
        vote_window: app_commands.Choice[int] | None = None,
        pictures: bool | None = None,
        workflow: str | None = None,
        rating: app_commands.Choice[str] | None = None,
        own_actions: bool | None = None,
        block: app_commands.Range[str, 1, 200] | None = None,
        unblock: app_commands.Range[str, 1, 200] | None = None,
        blocked: bool = False,
        mode: app_commands.Choice[str] | None = None,
        no_votes: app_commands.Choice[str] | None = None,
        illustrate: app_commands.Choice[str] | None = None,
    ) -> None:
        await self.adapter.on_settings(
            interaction,
            vote_window.value if vote_window else None,
            pictures,
            workflow,
            Rating(rating.value) if rating else None,
            own_actions,
            Blocking(block, unblock, blocked),
            participation=Participation(mode.value) if mode else None,
            no_votes=NoVoteRule(no_votes.value) if no_votes else None,
            illustrate=IllustrateMode(illustrate.value) if illustrate else None,
        )

    @settings.autocomplete("workflow")
    async def _settings_workflows(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.adapter.workflow_choices(current)

    @app_commands.command(name="defaults", description="Defaults for new stories on this server")
    @app_commands.describe(
        vote_window="Seconds a vote stays open",
        pictures="Pictures on or off",
        workflow="Picture style",
        threads="Each story in its own thread",
        rating=RATING_HELP,
    )
    @app_commands.choices(
        vote_window=[app_commands.Choice(name=f"{s} s", value=s) for s in (30, 60, 120, 300)]
    )
    @app_commands.choices(rating=RATING_CHOICES)
    async def defaults(
        self,
        interaction: discord.Interaction,
        vote_window: app_commands.Choice[int] | None = None,
        pictures: bool | None = None,
        workflow: str | None = None,
        threads: bool | None = None,
        rating: app_commands.Choice[str] | None = None,
    ) -> None:
        await self.adapter.on_defaults(
            interaction,
            vote_window.value if vote_window else None,
            pictures,
            workflow,
            threads,
            Rating(rating.value) if rating else None,
        )

    @defaults.autocomplete("workflow")
    async def _defaults_workflows(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.adapter.workflow_choices(current)

    @app_commands.command(name="book", description="The story as an illustrated book")
    async def book(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.BOOK)

    @app_commands.command(name="help", description="How to play")
    async def help(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_command(interaction, Command.HELP)

    @app_commands.command(name="lorebook", description="Attach a lorebook to the story")
    @app_commands.describe(file="The lorebook (SillyTavern World Info JSON)")
    async def lorebook(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        await self.adapter.on_lorebook(interaction, file)
