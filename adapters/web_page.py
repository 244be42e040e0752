"""The web adapter's HTML, rendered on the server: the start page, the story page and one
section per story part. Every string a model or a player wrote goes through `esc`;
nothing else builds markup, so no narration can become a tag, an attribute or a link.
"""

from __future__ import annotations

import enum
import html
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from storycraft_bot.core.models import Language, StoryLength
from storycraft_bot.core.own_actions import OWN_ACTION_MAX_CHARS
from storycraft_bot.core.texts import Msg, length_name, text

from .buttons import Button, ButtonKind


class Ui(enum.Enum):
    """The web page's own words (story texts come from the core's catalogue)."""

    TITLE = enum.auto()
    NEW_STORY = enum.auto()
    PREMISE = enum.auto()
    PREMISE_HINT = enum.auto()
    GENRE = enum.auto()
    STORY_LANGUAGE = enum.auto()
    TOGETHER = enum.auto()
    BEGIN = enum.auto()
    SHARE = enum.auto()
    RETRY = enum.auto()
    UNDO = enum.auto()
    REDRAW = enum.auto()
    STOP = enum.auto()
    STATUS = enum.auto()
    HELP = enum.auto()
    SETTINGS = enum.auto()
    PICTURES_ON = enum.auto()
    PICTURES_OFF = enum.auto()
    VOTE_WINDOW = enum.auto()
    OFFLINE = enum.auto()
    NO_STORY = enum.auto()
    BAD_FRAME = enum.auto()
    TOO_BIG = enum.auto()
    TOO_FAST = enum.auto()
    NEED_TOKEN = enum.auto()
    PICTURE = enum.auto()
    BOOK = enum.auto()
    NO_BOOK = enum.auto()
    DOWNLOAD = enum.auto()
    REROLL = enum.auto()
    CARD = enum.auto()
    LOREBOOK = enum.auto()
    STYLE = enum.auto()
    GENRE_STYLE = enum.auto()


UI: dict[Language, dict[Ui, str]] = {
    Language.EN: {
        Ui.TITLE: "StoryCraft",
        Ui.NEW_STORY: "A new story",
        Ui.PREMISE: "Premise",
        Ui.PREMISE_HINT: "A lighthouse keeper finds a door in the sea…",
        Ui.GENRE: "Genre",
        Ui.STORY_LANGUAGE: "Language of the story",
        Ui.TOGETHER: "Play together (everyone with the link votes)",
        Ui.BEGIN: "Begin",
        Ui.SHARE: "Share this page's link to play together.",
        Ui.RETRY: "Rewrite",
        Ui.UNDO: "Undo",
        Ui.REDRAW: "Redraw",
        Ui.STOP: "End",
        Ui.STATUS: "Status",
        Ui.HELP: "Help",
        Ui.SETTINGS: "Settings",
        Ui.PICTURES_ON: "Pictures on",
        Ui.PICTURES_OFF: "Pictures off",
        Ui.VOTE_WINDOW: "Vote: {seconds} s",
        Ui.OFFLINE: "Connection lost; reconnecting…",
        Ui.NO_STORY: "There is no story at this address.",
        Ui.BAD_FRAME: "That request was not understood.",
        Ui.TOO_BIG: "That request was too large.",
        Ui.TOO_FAST: "Too many requests; wait a moment.",
        Ui.NEED_TOKEN: "This StoryCraft needs its access token (open the link with ?token=…).",
        Ui.PICTURE: "Picture",
        Ui.BOOK: "Read as a book",
        Ui.NO_BOOK: "There is no book at this address.",
        Ui.DOWNLOAD: "Download the book",
        Ui.REROLL: "New choices",
        Ui.CARD: "Character card (SillyTavern PNG or JSON, optional)",
        Ui.LOREBOOK: "Lorebook (World Info JSON, optional)",
        Ui.STYLE: "Picture style",
        Ui.GENRE_STYLE: "The genre's",
    },
    Language.RU: {
        Ui.TITLE: "StoryCraft",
        Ui.NEW_STORY: "Новая история",
        Ui.PREMISE: "Завязка",
        Ui.PREMISE_HINT: "Смотритель маяка находит в море дверь…",
        Ui.GENRE: "Жанр",
        Ui.STORY_LANGUAGE: "Язык истории",
        Ui.TOGETHER: "Играть вместе (все, у кого есть ссылка, голосуют)",
        Ui.BEGIN: "Начать",
        Ui.SHARE: "Поделитесь ссылкой на эту страницу, чтобы играть вместе.",
        Ui.RETRY: "Переписать",
        Ui.UNDO: "Отменить",
        Ui.REDRAW: "Перерисовать",
        Ui.STOP: "Закончить",
        Ui.STATUS: "Статус",
        Ui.HELP: "Помощь",
        Ui.SETTINGS: "Настройки",
        Ui.PICTURES_ON: "Картинки вкл.",
        Ui.PICTURES_OFF: "Картинки выкл.",
        Ui.VOTE_WINDOW: "Голосование: {seconds} с",
        Ui.OFFLINE: "Связь потеряна; переподключаюсь…",
        Ui.NO_STORY: "По этому адресу истории нет.",
        Ui.BAD_FRAME: "Запрос не понят.",
        Ui.TOO_BIG: "Запрос слишком большой.",
        Ui.TOO_FAST: "Слишком много запросов; подождите немного.",
        Ui.NEED_TOKEN: "Нужен токен доступа (откройте ссылку с ?token=…).",
        Ui.PICTURE: "Картинка",
        Ui.BOOK: "Читать книгой",
        Ui.NO_BOOK: "По этому адресу книги нет.",
        Ui.DOWNLOAD: "Скачать книгу",
        Ui.REROLL: "Другие варианты",
        Ui.CARD: "Карточка персонажа (PNG или JSON из SillyTavern, необязательно)",
        Ui.LOREBOOK: "Лорбук (JSON World Info, необязательно)",
        Ui.STYLE: "Стиль картинок",
        Ui.GENRE_STYLE: "Как у жанра",
    },
}


def ui(language: Language, key: Ui, **params: object) -> str:
    return UI[language][key].format(**params)


def esc(value: str) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape(value, quote=True)


@dataclass(frozen=True, slots=True)
class PartView:
    """What one story part shows, already in words (see WebAdapter.layout)."""

    segment_id: int
    state: str
    narration: str
    status: Sequence[str]
    buttons: Sequence[tuple[str, Button]]  # (button id, button)
    picture_url: str = ""
    picture_size: tuple[int, int] | None = None
    picture_wait: str = ""  # queue position or progress while the picture is drawn
    picture_alt: str = ""


def part_html(part: PartView) -> str:
    """One part as a <section>: picture (or its progress), narration, status, buttons."""
    figure = ""
    if part.picture_url:
        size = ""
        if part.picture_size is not None:
            size = f' width="{part.picture_size[0]}" height="{part.picture_size[1]}"'
        figure = (
            f'<figure class="picture"><img src="{esc(part.picture_url)}"{size} '
            f'loading="lazy" decoding="async" alt="{esc(part.picture_alt)}"></figure>'
        )
    elif part.picture_wait:
        figure = f'<figure class="picture waiting"><p>{esc(part.picture_wait)}</p></figure>'
    paragraphs = "".join(
        f"<p>{esc(p.strip())}</p>" for p in part.narration.split("\n\n") if p.strip()
    )
    status = "".join(f"<li>{esc(line)}</li>" for line in part.status)
    buttons = "".join(
        own_action_html(code, button.label)
        if button.kind is ButtonKind.OWN_ACTION
        else f'<button type="button" class="{button.kind.name.lower()}" '
        f'data-button="{esc(code)}">{esc(button.label)}</button>'
        for code, button in part.buttons
    )
    return (
        f'<section class="part {esc(part.state)}" id="part-{part.segment_id}">'
        f"{figure}"
        f'<div class="narration">{paragraphs}</div>'
        + (f'<ul class="status">{status}</ul>' if status else "")
        + (f'<div class="choices">{buttons}</div>' if buttons else "")
        + "</section>"
    )


def notice_html(message: str) -> str:
    return f'<p class="notice">{esc(message)}</p>'


def _head(language: Language, title: str) -> str:
    return (
        f'<!doctype html><html lang="{language.value}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>'
    )


def _switch(language: Language, path: str) -> str:
    other = Language.EN if language is Language.RU else Language.RU
    return (
        f'<nav class="lang"><a href="{esc(path)}?lang={other.value}" '
        f'hreflang="{other.value}">{other.value.upper()}</a></nav>'
    )


def start_page(
    language: Language, *, error: str = "", genre: str = "", styles: Sequence[str] = ()
) -> str:
    """The form that starts a story; `styles` are the picture styles it offers."""
    options = "".join(
        f'<option value="{lang.value}"{" selected" if lang is language else ""}>'
        f"{lang.value.upper()}</option>"
        for lang in Language
    )
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    lengths = "".join(
        f'<option value="{length.value}"'
        f"{' selected' if length is StoryLength.MEDIUM else ''}>"
        f"{esc(length_name(language, length))}</option>"
        for length in StoryLength
    )
    style_options = f'<option value="">{esc(ui(language, Ui.GENRE_STYLE))}</option>' + "".join(
        f'<option value="{esc(name)}">{esc(name)}</option>' for name in styles
    )
    return (
        _head(language, ui(language, Ui.TITLE))
        + "<body><header><h1>"
        + esc(ui(language, Ui.TITLE))
        + "</h1>"
        + _switch(language, "/")
        + "</header><main>"
        + problem
        + '<form class="start" method="post" action="/start" enctype="multipart/form-data">'
        + f"<h2>{esc(ui(language, Ui.NEW_STORY))}"
        f"</h2><label>{esc(ui(language, Ui.PREMISE))}"
        f'<textarea name="premise" maxlength="1000" rows="3" '
        f'placeholder="{esc(ui(language, Ui.PREMISE_HINT))}"></textarea></label>'
        f"<label>{esc(ui(language, Ui.GENRE))}"
        f'<input name="genre" maxlength="60" value="{esc(genre)}"></label>'
        f'<label>{esc(ui(language, Ui.STORY_LANGUAGE))}<select name="language">{options}'
        f"</select></label>"
        f'<label>{esc(text(language, Msg.STORY_LENGTH))}<select name="length">{lengths}'
        f"</select></label>"
        f'<label>{esc(ui(language, Ui.STYLE))}<select name="style">{style_options}'
        f"</select></label>"
        f'<label class="check"><input type="checkbox" name="together" value="1"> '
        f"{esc(ui(language, Ui.TOGETHER))}</label>"
        f'<label>{esc(ui(language, Ui.CARD))}<input type="file" name="card" '
        f'accept=".png,.json,image/png,application/json"></label>'
        f'<label>{esc(ui(language, Ui.LOREBOOK))}<input type="file" name="lorebook" '
        f'accept=".json,application/json"></label>'
        f'<button type="submit">{esc(ui(language, Ui.BEGIN))}</button></form>'
        "</main></body></html>"
    )


def story_page(
    language: Language,
    story: str,
    parts: Iterable[tuple[int, str]],
    *,
    vote_windows: Sequence[int],
    book: str = "",
) -> str:
    """The story as it stands (each item: message id, its HTML), then the script that
    keeps it live over the WebSocket; `book` is the link to the story's book."""
    body = "".join(f'<div class="message" data-id="{number}">{h}</div>' for number, h in parts)
    commands = "".join(
        f'<button type="button" data-command="{name}">{esc(ui(language, key))}</button>'
        for name, key in (
            ("retry", Ui.RETRY),
            ("undo", Ui.UNDO),
            ("redraw", Ui.REDRAW),
            ("choices", Ui.REROLL),
            ("stop", Ui.STOP),
            ("status", Ui.STATUS),
            ("help", Ui.HELP),
        )
    )
    settings = (
        f'<button type="button" data-setting="pictures" data-value="1">'
        f"{esc(ui(language, Ui.PICTURES_ON))}</button>"
        f'<button type="button" data-setting="pictures" data-value="0">'
        f"{esc(ui(language, Ui.PICTURES_OFF))}</button>"
        + "".join(
            f'<button type="button" data-setting="window" data-value="{w}">'
            f"{esc(ui(language, Ui.VOTE_WINDOW, seconds=w))}</button>"
            for w in vote_windows
        )
    )
    return (
        _head(language, ui(language, Ui.TITLE)) + f'<body data-story="{esc(story)}" '
        f'data-offline="{esc(ui(language, Ui.OFFLINE))}">'
        f'<header><h1><a href="/">{esc(ui(language, Ui.TITLE))}</a></h1>'
        + _switch(language, f"/s/{story}")
        + "</header>"
        + (
            f'<p class="book-link"><a href="{esc(book)}">{esc(ui(language, Ui.BOOK))}</a></p>'
            if book
            else ""
        )
        + f'<p class="share">{esc(ui(language, Ui.SHARE))}</p>'
        f'<p id="connection" class="connection" hidden></p>'
        f'<main id="story" aria-live="polite">{body}</main>'
        f'<div id="toast" class="toast" role="status" hidden></div>'
        f'<footer><div class="commands">{commands}</div>'
        f'<details class="settings"><summary>{esc(ui(language, Ui.SETTINGS))}</summary>'
        f"{settings}</details></footer>"
        '<script src="/static/story.js" defer></script></body></html>'
    )


def message_page(language: Language, message: str) -> str:
    return (
        _head(language, ui(language, Ui.TITLE))
        + f'<body><header><h1><a href="/">{esc(ui(language, Ui.TITLE))}</a></h1></header>'
        f'<main><p class="error">{esc(message)}</p></main></body></html>'
    )


def png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's header (None for anything else), so the page can
    keep the picture's room before it loads."""
    try:
        with path.open("rb") as file:
            head = file.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def own_action_html(code: str, label: str) -> str:
    """The own-action button as a small form: a text field and its send button (the page's
    script sends `{"op": "own", "button": code, "text": ...}`)."""
    return (
        f'<form class="own_action" data-own="{esc(code)}">'
        f'<input name="action" maxlength="{OWN_ACTION_MAX_CHARS}" required '
        f'aria-label="{esc(label)}" placeholder="{esc(label)}">'
        f'<button type="submit">{esc(label)}</button></form>'
    )
