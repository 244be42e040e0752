"""User-facing texts in Russian and English, shared by every adapter.

Keys are what the engine puts in events and errors; adapters call `text()`. Counts are
written with their noun in the right plural form (Babel's CLDR rules: "1 голос",
"3 голоса", "5 голосов"): a template names the count's placeholder, `text()` is given
the number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from babel import Locale

from storycraft_bot.core.messages import Msg as Msg  # re-exported: every caller imports it here
from storycraft_bot.core.models import (
    DecidedBy,
    Language,
    Participation,
    Rating,
    SegmentState,
    Session,
    SessionState,
    StatusReport,
    StoryLength,
)
from storycraft_bot.core.texts_safety import SAFETY_TEXTS
from storycraft_bot.core.texts_story_craft import STORY_CRAFT_TEXTS

_TEXTS: dict[Msg, dict[Language, str]] = {
    Msg.BOOK_UNTITLED: {
        Language.RU: "История: {genre}",
        Language.EN: "A {genre} story",
    },
    Msg.BOOK_PART: {Language.RU: "Часть {number}", Language.EN: "Part {number}"},
    Msg.BOOK_CHOSEN: {Language.RU: "» выбрано: {choice}", Language.EN: "» chosen: {choice}"},
    Msg.BOOK_PICTURE: {
        Language.RU: "Картинка к части {number}",
        Language.EN: "Picture for part {number}",
    },
    Msg.BOOK_BEGUN: {Language.RU: "Начата {date}", Language.EN: "Begun {date}"},
    Msg.BOOK_GOES_ON: {
        Language.RU: "История ещё продолжается…",
        Language.EN: "The story goes on…",
    },
    Msg.BOOK_THE_END: {Language.RU: "Конец", Language.EN: "The end"},
    Msg.BOOK_READY: {
        Language.RU: "📖 Книга «{title}»: {parts}, картинки внутри файла.",
        Language.EN: "📖 The book of “{title}”: {parts}, pictures inside the file.",
    },
    Msg.BOOK_LINK: {Language.RU: "Читать онлайн: {url}", Language.EN: "Read it online: {url}"},
    Msg.BOOK_SAVED: {Language.RU: "Книга сохранена: {path}", Language.EN: "Book saved: {path}"},
    Msg.BOOK_TOO_LARGE: {
        Language.RU: "Файл книги ({size} МБ) больше, чем здесь можно отправить.",
        Language.EN: "The book's file ({size} MB) is larger than can be sent here.",
    },
    Msg.STORY_EXISTS: {
        Language.RU: "Здесь уже идёт история. Остановите её командой stop, чтобы начать новую.",
        Language.EN: "A story is already running here. Stop it first to start a new one.",
    },
    Msg.NO_STORY: {
        Language.RU: "Здесь сейчас нет истории. Начните новую командой start.",
        Language.EN: "There is no story here yet. Start one with the start command.",
    },
    Msg.CHOICE_CLOSED: {
        Language.RU: "Этот выбор уже закрыт.",
        Language.EN: "This choice is closed.",
    },
    Msg.PART_OVER: {
        Language.RU: "Эта часть истории уже закончилась.",
        Language.EN: "This part is over.",
    },
    Msg.NOT_ALLOWED: {
        Language.RU: "Это может сделать только тот, кто начал историю, или модератор.",
        Language.EN: "Only the person who started the story or a moderator can do that.",
    },
    Msg.BUSY_GENERATING: {
        Language.RU: "Рассказчик ещё пишет, подождите немного.",
        Language.EN: "The narrator is still writing; please wait a moment.",
    },
    Msg.NOTHING_TO_UNDO: {
        Language.RU: "Отменять нечего: это начало истории.",
        Language.EN: "Nothing to undo: this is the start of the story.",
    },
    Msg.NO_VOTES_YET: {
        Language.RU: "Голосов пока нет.",
        Language.EN: "No votes yet.",
    },
    Msg.VOTE_COUNTED: {
        Language.RU: "Голос учтён: {choice}",
        Language.EN: "Vote counted: {choice}",
    },
    Msg.VOTE_CHANGED: {
        Language.RU: "Вы изменили голос: {choice}",
        Language.EN: "You changed your vote: {choice}",
    },
    Msg.VOTE_SAME: {
        Language.RU: "Вы уже голосовали за это.",
        Language.EN: "You already voted for this.",
    },
    Msg.CHOSEN: {
        Language.RU: "Выбрано: {choice}",
        Language.EN: "Chosen: {choice}",
    },
    Msg.STORY_STARTED: {
        Language.RU: "История начинается…",
        Language.EN: "The story begins…",
    },
    Msg.STORY_STOPPED: {
        Language.RU: "История окончена. Спасибо за игру!",
        Language.EN: "The story has ended. Thanks for playing!",
    },
    Msg.WRITING: {
        Language.RU: "✍️ Рассказчик пишет…",
        Language.EN: "✍️ The narrator is writing…",
    },
    Msg.RETRYING: {
        Language.RU: "Пишу этот фрагмент заново…",
        Language.EN: "Rewriting this part…",
    },
    Msg.UNDONE: {
        Language.RU: "Последний выбор отменён — выбирайте снова.",
        Language.EN: "The last choice was undone — choose again.",
    },
    Msg.NARRATOR_UNAVAILABLE: {
        Language.RU: "Рассказчик сейчас недоступен. Нажмите «Попробовать снова» чуть позже.",
        Language.EN: "The narrator is unavailable right now. Press “Try again” in a little while.",
    },
    Msg.NARRATOR_BACK: {
        Language.RU: "Рассказчик снова на связи — история продолжается.",
        Language.EN: "The narrator is back — the story goes on.",
    },
    Msg.NARRATOR_BUSY: {
        Language.RU: "✍️ Рассказчик занят другими историями (впереди: {ahead}), ваша ждёт очереди.",
        Language.EN: "✍️ The narrator is busy with other stories ({ahead} ahead); yours is in line.",
    },
    Msg.NARRATOR_TIMEOUT: {
        Language.RU: "Рассказчик думал слишком долго. Нажмите «Попробовать снова».",
        Language.EN: "The narrator took too long. Press “Try again”.",
    },
    Msg.MODEL_NOT_INSTALLED: {
        Language.RU: "Модель рассказчика не установлена на сервере. Сообщите администратору бота.",
        Language.EN: "The narrator's model is not installed on the server. Tell the bot's admin.",
    },
    Msg.MALFORMED_REPLY: {
        Language.RU: "Рассказчик ответил что-то непонятное. Нажмите «Попробовать снова».",
        Language.EN: "The narrator's reply made no sense. Press “Try again”.",
    },
    Msg.INTERNAL_ERROR: {
        Language.RU: "Что-то пошло не так. Попробуйте ещё раз.",
        Language.EN: "Something went wrong. Please try again.",
    },
    Msg.PICTURES_OFF: {
        Language.RU: "Картинки выключены: художник недоступен. История продолжается текстом.",
        Language.EN: "Pictures are off: the illustrator is unavailable. The story goes on in text.",
    },
    Msg.PICTURE_QUEUED: {
        Language.RU: "🎨 Картинка в очереди (впереди: {ahead})",
        Language.EN: "🎨 Picture queued ({ahead} ahead)",
    },
    Msg.PICTURE_DRAWING: {
        Language.RU: "🎨 Рисую… {percent}%",
        Language.EN: "🎨 Drawing… {percent}%",
    },
    Msg.PICTURE_FAILED: {
        Language.RU: "Картинка не получилась: {reason}",
        Language.EN: "The picture failed: {reason}",
    },
    Msg.PICTURES_DISABLED: {
        Language.RU: "Картинки для этой истории выключены.",
        Language.EN: "Pictures are off for this story.",
    },
    Msg.REDRAWING: {
        Language.RU: "Рисую заново…",
        Language.EN: "Drawing it again…",
    },
    Msg.WELCOME: {
        Language.RU: (
            "Привет! Я рассказываю интерактивные истории с картинками. Я пишу часть "
            "истории и предлагаю варианты — вы выбираете кнопкой, что будет дальше. В группе "
            "все голосуют, побеждает большинство.\n\nНачните кнопкой ниже или командой "
            "/story и своей завязкой, например: /story Потерянный ключ от маяка"
        ),
        Language.EN: (
            "Hi! I tell interactive illustrated stories. I write a part of the story and "
            "offer choices; you press a button to decide what happens next. In a group "
            "everyone votes and the majority wins.\n\nStart with the button below or with "
            "/story and your premise, e.g. /story The lost key of the lighthouse"
        ),
    },
    Msg.BEGIN_BUTTON: {
        Language.RU: "📖 Начать историю",
        Language.EN: "📖 Begin a story",
    },
    Msg.HELP: {
        Language.RU: (
            "/story [завязка] — начать историю\n/status — что сейчас происходит\n"
            "/retry — переписать последнюю часть\n/undo — отменить последний выбор\n"
            "/redraw — нарисовать картинку заново\n/settings — настройки истории\n"
            "/book — история книгой с картинками (файл)\n"
            "/stop — закончить историю\n\nОстанавливать, переписывать и отменять может тот, "
            "кто начал историю, или администратор."
        ),
        Language.EN: (
            "/story [premise] — start a story\n/status — what is going on\n"
            "/retry — rewrite the newest part\n/undo — take the last choice back\n"
            "/redraw — draw the picture again\n/settings — the story's settings\n"
            "/book — the story as an illustrated book (a file)\n"
            "/stop — end the story\n\nStopping, rewriting and undoing are for whoever "
            "started the story, or an admin."
        ),
    },
    Msg.HELP_DISCORD: {
        Language.RU: (
            "`/story start` [завязка] [жанр] [язык] — начать историю\n"
            "`/story status` — что сейчас происходит\n`/story retry` — переписать последнюю "
            "часть\n`/story undo` — отменить последний выбор\n`/story redraw` — нарисовать "
            "картинку заново\n`/story settings` — настройки истории\n`/story defaults` — "
            "настройки сервера (право «Управлять сервером»)\n`/story book` — история книгой "
            "с картинками (файл)\n`/story stop` — закончить "
            "историю\n\nВыбирайте кнопками под частью истории: в канале все голосуют."
        ),
        Language.EN: (
            "`/story start` [premise] [genre] [language] — start a story\n"
            "`/story status` — what is going on\n`/story retry` — rewrite the newest part\n"
            "`/story undo` — take the last choice back\n`/story redraw` — draw the picture "
            "again\n`/story settings` — the story's settings\n`/story defaults` — the "
            "server's defaults (Manage Server)\n`/story book` — the story as an "
            "illustrated book (a file)\n`/story stop` — end the story\n\nChoose "
            "with the buttons under each part: in a channel everyone votes."
        ),
    },
    Msg.SETTINGS_TITLE: {
        Language.RU: "Настройки истории: картинки {pictures}, голосование {window} с, "
        "рейтинг {rating}.",
        Language.EN: "Story settings: pictures {pictures}, voting {window} s, rating {rating}.",
    },
    Msg.ON: {Language.RU: "вкл.", Language.EN: "on"},
    Msg.OFF: {Language.RU: "выкл.", Language.EN: "off"},
    Msg.PICTURES_TOGGLE: {
        Language.RU: "🖼 Картинки: {state}",
        Language.EN: "🖼 Pictures: {state}",
    },
    Msg.SETTINGS_SAVED: {
        Language.RU: "Сохранено.",
        Language.EN: "Saved.",
    },
    Msg.REDRAW_BUTTON: {
        Language.RU: "🎨 Нарисовать заново",
        Language.EN: "🎨 Redraw",
    },
    Msg.RETRY_BUTTON: {
        Language.RU: "🔁 Попробовать снова",
        Language.EN: "🔁 Try again",
    },
    Msg.NOT_ALLOWED_GUILD: {
        Language.RU: "Настройки сервера меняют только участники с правом «Управлять сервером».",
        Language.EN: "Only members with Manage Server can change the server's defaults.",
    },
    Msg.DEFAULTS_TITLE: {
        Language.RU: "Для новых историй: картинки {pictures}, голосование {window}, "
        "свой тред {threads}, стиль {workflow}, рейтинг {rating}.",
        Language.EN: "For new stories: pictures {pictures}, voting {window}, own thread "
        "{threads}, style {workflow}, rating {rating}.",
    },
    Msg.DEFAULT_VALUE: {Language.RU: "по умолчанию", Language.EN: "default"},
    Msg.STORY_IN_THREAD: {
        Language.RU: "История идёт в треде {thread}.",
        Language.EN: "The story is in the thread {thread}.",
    },
    Msg.UNKNOWN_WORKFLOW: {
        Language.RU: "Такого стиля нет. Есть: {choices}.",
        Language.EN: "No such style. There are: {choices}.",
    },
    Msg.PART_RETRIED: {
        Language.RU: "Эта часть переписана — смотрите ниже.",
        Language.EN: "This part was rewritten — see below.",
    },
    Msg.PART_UNDONE: {
        Language.RU: "Этот выбор отменён.",
        Language.EN: "This choice was undone.",
    },
    Msg.VOTE_CLOSED: {
        Language.RU: "Голосование закрыто.",
        Language.EN: "The vote is closed.",
    },
    Msg.CLOSE_VOTE_BUTTON: {
        Language.RU: "⏹ Закрыть голосование",
        Language.EN: "⏹ Close the vote",
    },
    Msg.CHOOSE_NUMBER: {
        Language.RU: "Введите номер от 1 до {count}.",
        Language.EN: "Type a number from 1 to {count}.",
    },
    Msg.STATUS: {
        Language.RU: "История «{genre}», {parts}. {premise}{state}",
        Language.EN: "A {genre} story, {parts} so far. {premise}{state}",
    },
    Msg.STATUS_PREMISE: {
        Language.RU: "Завязка: {premise}. ",
        Language.EN: "Premise: {premise}. ",
    },
    Msg.STATUS_WRITING: {
        Language.RU: "Рассказчик пишет.",
        Language.EN: "The narrator is writing.",
    },
    Msg.STATUS_WAITING: {
        Language.RU: "Ждём выбора.",
        Language.EN: "Waiting for a choice.",
    },
    Msg.STATUS_VOTING: {
        Language.RU: "Идёт голосование: {votes}.",
        Language.EN: "Voting: {votes} so far.",
    },
    Msg.STATUS_PAUSED: {
        Language.RU: "История на паузе: бот не смог писать в этот чат. Когда доступ вернётся, "
        "тот, кто начал историю, или модератор продолжит её командой retry.",
        Language.EN: "The story is paused: the bot could not post in this chat. Once it can, "
        "the starter or a moderator continues it with the retry command.",
    },
    Msg.STATUS_DRAFTS: {
        Language.RU: "\nЗаранее написано продолжений: {ready}{writing}.",
        Language.EN: "\nContinuations written in advance: {ready}{writing}.",
    },
    Msg.STATUS_DRAFT_UNDERWAY: {
        Language.RU: ", ещё одно пишется",
        Language.EN: ", one more underway",
    },
    Msg.STATUS_FAILED: {
        Language.RU: "Последняя часть не получилась — нажмите «Попробовать снова» под ней.",
        Language.EN: "The last part failed — press “Try again” under it.",
    },
    Msg.VOTE_OPEN: {
        Language.RU: "Голосование открыто до {closes}",
        Language.EN: "Voting is open until {closes}",
    },
    Msg.VOTE_CLOSES_IN: {
        Language.RU: "Голосование закроется через {left}",
        Language.EN: "Voting closes in {left}",
    },
    Msg.VOTE_CLOSING: {
        Language.RU: "Голосование закрывается…",
        Language.EN: "Voting is closing…",
    },
    Msg.SECONDS_SHORT: {
        Language.RU: "{window} с",
        Language.EN: "{window} s",
    },
    Msg.NARRATION_RESTARTED: {
        Language.RU: "↻ Рассказчик начал эту часть заново:",
        Language.EN: "↻ The narrator started this part over:",
    },
    **SAFETY_TEXTS,
    **STORY_CRAFT_TEXTS,
}

_DECIDED: dict[DecidedBy, dict[Language, str]] = {
    DecidedBy.PRESS: {Language.RU: "Выбрано: {choice}", Language.EN: "Chosen: {choice}"},
    DecidedBy.VOTE: {
        Language.RU: "Группа выбрала: {choice} ({votes})",
        Language.EN: "The group chose: {choice} ({votes})",
    },
    DecidedBy.TIE: {
        Language.RU: "Группа выбрала: {choice} ({votes}, ничья решена жребием)",
        Language.EN: "The group chose: {choice} ({votes}, tie broken at random)",
    },
    DecidedBy.CLOSED_EARLY: {
        Language.RU: "Голосование закрыто досрочно. Выбрано: {choice} ({votes})",
        Language.EN: "Voting closed early. Chosen: {choice} ({votes})",
    },
    DecidedBy.NO_VOTES: {
        Language.RU: "Никто не проголосовал, выбрано случайно: {choice}",
        Language.EN: "Nobody voted, chosen at random: {choice}",
    },
}


#: Placeholders that hold a count, and their noun's forms by CLDR plural category.
_COUNTED: dict[str, dict[Language, dict[str, str]]] = {
    "votes": {
        Language.RU: {"one": "{n} голос", "few": "{n} голоса", "many": "{n} голосов"},
        Language.EN: {"one": "{n} vote", "other": "{n} votes"},
    },
    "parts": {
        Language.RU: {"one": "{n} часть", "few": "{n} части", "many": "{n} частей"},
        Language.EN: {"one": "{n} part", "other": "{n} parts"},
    },
    "ahead": {
        Language.RU: {"one": "{n} картинка", "few": "{n} картинки", "many": "{n} картинок"},
        Language.EN: {"one": "{n} picture", "other": "{n} pictures"},
    },
    # After "через" / "in": Russian takes the accusative ("через 1 минуту").
    "seconds": {
        Language.RU: {"one": "{n} секунду", "few": "{n} секунды", "many": "{n} секунд"},
        Language.EN: {"one": "{n} second", "other": "{n} seconds"},
    },
    "minutes": {
        Language.RU: {"one": "{n} минуту", "few": "{n} минуты", "many": "{n} минут"},
        Language.EN: {"one": "{n} minute", "other": "{n} minutes"},
    },
    "hours": {
        Language.RU: {"one": "{n} час", "few": "{n} часа", "many": "{n} часов"},
        Language.EN: {"one": "{n} hour", "other": "{n} hours"},
    },
    "stories": {
        Language.RU: {"one": "{n} историю", "few": "{n} истории", "many": "{n} историй"},
        Language.EN: {"one": "{n} story", "other": "{n} stories"},
    },
    "times": {
        Language.RU: {"one": "{n} раз", "few": "{n} раза", "many": "{n} раз"},
        Language.EN: {"one": "once", "other": "{n} times"},
    },
    "players": {
        Language.RU: {"one": "{n} игрок", "few": "{n} игрока", "many": "{n} игроков"},
        Language.EN: {"one": "{n} player", "other": "{n} players"},
    },
    "entries": {
        Language.RU: {"one": "{n} запись", "few": "{n} записи", "many": "{n} записей"},
        Language.EN: {"one": "{n} entry", "other": "{n} entries"},
    },
}


#: The genres the commands offer, by their stored value; others are shown as typed.
_GENRES: dict[str, dict[Language, str]] = {
    "fantasy": {Language.RU: "фэнтези", Language.EN: "fantasy"},
    "sci-fi": {Language.RU: "фантастика", Language.EN: "science fiction"},
    "horror": {Language.RU: "ужасы", Language.EN: "horror"},
    "mystery": {Language.RU: "детектив", Language.EN: "mystery"},
    "fairy tale": {Language.RU: "сказка", Language.EN: "fairy tale"},
}


_RATINGS: dict[Rating, dict[Language, str]] = {
    Rating.SAFE: {Language.RU: "для всех", Language.EN: "safe"},
    Rating.TEEN: {Language.RU: "12+", Language.EN: "teen"},
    Rating.MATURE: {Language.RU: "для взрослых", Language.EN: "mature"},
}


def rating_name(language: Language, rating: Rating) -> str:
    """A content rating in words ("teen", "12+")."""
    return _RATINGS[rating][language]


def genre_name(language: Language, genre: str) -> str:
    """A genre in the story's language ("fantasy" -> "фэнтези")."""
    return _GENRES.get(genre.strip().lower(), {}).get(language, genre)


@cache
def _locale(language: Language) -> Locale:
    return Locale.parse(language.value)


def counted(language: Language, noun: str, count: int) -> str:
    """`count` with its noun in the language's plural form ("3 голоса", "1 vote")."""
    forms = _COUNTED[noun][language]
    category = _locale(language).plural_form(count)
    template = forms.get(category) or forms.get("other") or forms["many"]
    return template.format(n=count)


@dataclass(frozen=True, slots=True)
class Wait:
    """A time to wait, as a message parameter: shown as "45 seconds", "2 minutes"."""

    seconds: int


def wait_text(language: Language, seconds: int) -> str:
    """A relative time after "in" / "через": seconds under 90 s, minutes under 90 min,
    hours beyond (rounded up, so it is never too early)."""
    if seconds < 90:
        return counted(language, "seconds", seconds)
    if seconds < 90 * 60:
        return counted(language, "minutes", math.ceil(seconds / 60))
    return counted(language, "hours", math.ceil(seconds / 3600))


def _fill(template: str, language: Language, params: dict[str, object]) -> str:
    values = {
        name: counted(language, name, value)
        if name in _COUNTED and isinstance(value, int) and not isinstance(value, bool)
        else wait_text(language, value.seconds)
        if isinstance(value, Wait)
        else value
        for name, value in params.items()
    }
    return template.format(**values)


def text(language: Language, code: Msg, **params: object) -> str:
    """The message for `code` in `language` (English if the key lacks it)."""
    entry = _TEXTS[Msg(code)]  # an unknown key raises here, in tests, not in chat
    template = entry.get(language) or entry[Language.EN]
    return _fill(template, language, params) if params else template


def decision_text(language: Language, decided_by: DecidedBy, choice: str, votes: int) -> str:
    """How the choice was made, in words ("tie broken at random" included)."""
    return _fill(_DECIDED[decided_by][language], language, {"choice": choice, "votes": votes})


def status_text(report: StatusReport) -> str:
    """One paragraph about the channel's story for the status command."""
    lang = report.session.language
    current = report.current
    writing = current is not None and current.state is SegmentState.GENERATING
    if report.session.state is SessionState.PAUSED:
        state = text(lang, Msg.STATUS_PAUSED)
    elif current is None or writing:
        state = text(lang, Msg.STATUS_WRITING)
    elif current.state is SegmentState.FAILED:
        state = text(lang, Msg.STATUS_FAILED)
    elif report.tally is not None and report.tally.voters:
        state = text(lang, Msg.STATUS_VOTING, votes=report.tally.voters)
    else:
        state = text(lang, Msg.STATUS_WAITING)
    if report.drafts is not None:  # the starter's view only
        underway = text(lang, Msg.STATUS_DRAFT_UNDERWAY) if report.drafts.writing else ""
        state += text(lang, Msg.STATUS_DRAFTS, ready=report.drafts.ready, writing=underway)
    premise = report.session.premise
    return (
        text(
            lang,
            Msg.STATUS,
            genre=genre_name(lang, report.session.genre),
            parts=report.segments - (1 if writing else 0),  # a part being written is not shown yet
            premise=text(lang, Msg.STATUS_PREMISE, premise=premise) if premise else "",
            state=state,
        )
        + _arc_status(report.session)
        + text(lang, Msg.STATUS_RATING, rating=rating_name(lang, report.session.settings.rating))
    )


#: Issue 16: a story's length and who chooses, in words.
_LENGTH_NAMES: dict[StoryLength, Msg] = {
    StoryLength.SHORT: Msg.LENGTH_SHORT,
    StoryLength.MEDIUM: Msg.LENGTH_MEDIUM,
    StoryLength.LONG: Msg.LENGTH_LONG,
    StoryLength.ENDLESS: Msg.LENGTH_ENDLESS,
}
_MODE_NAMES: dict[Participation, Msg] = {
    Participation.STARTER: Msg.MODE_STARTER_BUTTON,
    Participation.ANYONE: Msg.MODE_ANYONE_BUTTON,
    Participation.VOTE: Msg.MODE_VOTE_BUTTON,
}


def length_name(language: Language, length: StoryLength) -> str:
    """A story length in words ("Short (about 8 parts)")."""
    return text(language, _LENGTH_NAMES[length])


def _arc_status(session: Session) -> str:
    """The status's words on the length and, in a group, who chooses."""
    lang, settings = session.language, session.settings
    line = text(lang, Msg.STATUS_LENGTH, length=length_name(lang, settings.length))
    if session.place.is_group:
        line += text(lang, Msg.STATUS_MODE, mode=text(lang, _MODE_NAMES[settings.participation]))
    return line


def known_codes() -> frozenset[Msg]:
    """Every catalogue key (tests check both languages have each)."""
    return frozenset(_TEXTS)
