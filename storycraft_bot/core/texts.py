"""User-facing texts in Russian and English, shared by every adapter.

Keys are what the engine puts in events and errors; adapters call `text()`.
"""

from __future__ import annotations

from storycraft_bot.core.models import DecidedBy, Language, SegmentState, StatusReport

_TEXTS: dict[str, dict[Language, str]] = {
    "story_exists": {
        Language.RU: "Здесь уже идёт история. Остановите её командой stop, чтобы начать новую.",
        Language.EN: "A story is already running here. Stop it first to start a new one.",
    },
    "no_story": {
        Language.RU: "Здесь сейчас нет истории. Начните новую командой start.",
        Language.EN: "There is no story here yet. Start one with the start command.",
    },
    "choice_closed": {
        Language.RU: "Этот выбор уже закрыт.",
        Language.EN: "This choice is closed.",
    },
    "not_allowed": {
        Language.RU: "Это может сделать только тот, кто начал историю, или модератор.",
        Language.EN: "Only the person who started the story or a moderator can do that.",
    },
    "busy_generating": {
        Language.RU: "Рассказчик ещё пишет, подождите немного.",
        Language.EN: "The narrator is still writing; please wait a moment.",
    },
    "nothing_to_undo": {
        Language.RU: "Отменять нечего: это начало истории.",
        Language.EN: "Nothing to undo: this is the start of the story.",
    },
    "no_votes_yet": {
        Language.RU: "Голосов пока нет.",
        Language.EN: "No votes yet.",
    },
    "vote_counted": {
        Language.RU: "Голос учтён: {choice}",
        Language.EN: "Vote counted: {choice}",
    },
    "vote_changed": {
        Language.RU: "Вы изменили голос: {choice}",
        Language.EN: "You changed your vote: {choice}",
    },
    "vote_same": {
        Language.RU: "Вы уже голосовали за это.",
        Language.EN: "You already voted for this.",
    },
    "chosen": {
        Language.RU: "Выбрано: {choice}",
        Language.EN: "Chosen: {choice}",
    },
    "story_started": {
        Language.RU: "История начинается…",
        Language.EN: "The story begins…",
    },
    "story_stopped": {
        Language.RU: "История окончена. Спасибо за игру!",
        Language.EN: "The story has ended. Thanks for playing!",
    },
    "writing": {
        Language.RU: "✍️ Рассказчик пишет…",
        Language.EN: "✍️ The narrator is writing…",
    },
    "retrying": {
        Language.RU: "Пишу этот фрагмент заново…",
        Language.EN: "Rewriting this part…",
    },
    "undone": {
        Language.RU: "Последний выбор отменён — выбирайте снова.",
        Language.EN: "The last choice was undone — choose again.",
    },
    "narrator_unavailable": {
        Language.RU: "Рассказчик сейчас недоступен. Попробуйте retry чуть позже.",
        Language.EN: "The narrator is unavailable right now. Try retry in a little while.",
    },
    "narrator_timeout": {
        Language.RU: "Рассказчик думал слишком долго. Попробуйте retry.",
        Language.EN: "The narrator took too long. Try retry.",
    },
    "model_not_installed": {
        Language.RU: "Модель рассказчика не установлена на сервере. Сообщите администратору бота.",
        Language.EN: "The narrator's model is not installed on the server. Tell the bot's admin.",
    },
    "malformed_reply": {
        Language.RU: "Рассказчик ответил что-то непонятное. Попробуйте retry.",
        Language.EN: "The narrator's reply made no sense. Try retry.",
    },
    "internal_error": {
        Language.RU: "Что-то пошло не так. Попробуйте ещё раз.",
        Language.EN: "Something went wrong. Please try again.",
    },
    "pictures_off": {
        Language.RU: "Картинки выключены: художник недоступен. История продолжается текстом.",
        Language.EN: "Pictures are off: the illustrator is unavailable. The story goes on in text.",
    },
    "picture_queued": {
        Language.RU: "🎨 Картинка в очереди ({ahead} впереди)",
        Language.EN: "🎨 Picture queued ({ahead} ahead)",
    },
    "picture_drawing": {
        Language.RU: "🎨 Рисую… {percent}%",
        Language.EN: "🎨 Drawing… {percent}%",
    },
    "picture_failed": {
        Language.RU: "Картинка не получилась: {reason}",
        Language.EN: "The picture failed: {reason}",
    },
    "pictures_disabled": {
        Language.RU: "Картинки для этой истории выключены.",
        Language.EN: "Pictures are off for this story.",
    },
    "redrawing": {
        Language.RU: "Рисую заново…",
        Language.EN: "Drawing it again…",
    },
    "welcome": {
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
    "begin_button": {
        Language.RU: "📖 Начать историю",
        Language.EN: "📖 Begin a story",
    },
    "help": {
        Language.RU: (
            "/story [завязка] — начать историю\n/status — что сейчас происходит\n"
            "/retry — переписать последнюю часть\n/undo — отменить последний выбор\n"
            "/redraw — нарисовать картинку заново\n/settings — настройки истории\n"
            "/stop — закончить историю\n\nОстанавливать, переписывать и отменять может тот, "
            "кто начал историю, или администратор."
        ),
        Language.EN: (
            "/story [premise] — start a story\n/status — what is going on\n"
            "/retry — rewrite the newest part\n/undo — take the last choice back\n"
            "/redraw — draw the picture again\n/settings — the story's settings\n"
            "/stop — end the story\n\nStopping, rewriting and undoing are for whoever "
            "started the story, or an admin."
        ),
    },
    "help_discord": {
        Language.RU: (
            "`/story start` [завязка] [жанр] [язык] — начать историю\n"
            "`/story status` — что сейчас происходит\n`/story retry` — переписать последнюю "
            "часть\n`/story undo` — отменить последний выбор\n`/story redraw` — нарисовать "
            "картинку заново\n`/story settings` — настройки истории\n`/story defaults` — "
            "настройки сервера (право «Управлять сервером»)\n`/story stop` — закончить "
            "историю\n\nВыбирайте кнопками под частью истории: в канале все голосуют."
        ),
        Language.EN: (
            "`/story start` [premise] [genre] [language] — start a story\n"
            "`/story status` — what is going on\n`/story retry` — rewrite the newest part\n"
            "`/story undo` — take the last choice back\n`/story redraw` — draw the picture "
            "again\n`/story settings` — the story's settings\n`/story defaults` — the "
            "server's defaults (Manage Server)\n`/story stop` — end the story\n\nChoose "
            "with the buttons under each part: in a channel everyone votes."
        ),
    },
    "settings_title": {
        Language.RU: "Настройки истории: картинки {pictures}, голосование {window} с.",
        Language.EN: "Story settings: pictures {pictures}, voting {window} s.",
    },
    "on": {Language.RU: "вкл.", Language.EN: "on"},
    "off": {Language.RU: "выкл.", Language.EN: "off"},
    "pictures_toggle": {
        Language.RU: "🖼 Картинки: {state}",
        Language.EN: "🖼 Pictures: {state}",
    },
    "settings_saved": {
        Language.RU: "Сохранено.",
        Language.EN: "Saved.",
    },
    "redraw_button": {
        Language.RU: "🎨 Нарисовать заново",
        Language.EN: "🎨 Redraw",
    },
    "retry_button": {
        Language.RU: "🔁 Попробовать снова",
        Language.EN: "🔁 Try again",
    },
    "not_allowed_guild": {
        Language.RU: "Настройки сервера меняют только участники с правом «Управлять сервером».",
        Language.EN: "Only members with Manage Server can change the server's defaults.",
    },
    "defaults_title": {
        Language.RU: "Для новых историй: картинки {pictures}, голосование {window}, "
        "свой тред {threads}, стиль {workflow}.",
        Language.EN: "For new stories: pictures {pictures}, voting {window}, own thread "
        "{threads}, style {workflow}.",
    },
    "default_value": {Language.RU: "по умолчанию", Language.EN: "default"},
    "story_in_thread": {
        Language.RU: "История идёт в треде {thread}.",
        Language.EN: "The story is in the thread {thread}.",
    },
    "unknown_workflow": {
        Language.RU: "Такого стиля нет. Есть: {choices}.",
        Language.EN: "No such style. There are: {choices}.",
    },
    "part_retried": {
        Language.RU: "Эта часть переписана — смотрите ниже.",
        Language.EN: "This part was rewritten — see below.",
    },
    "part_undone": {
        Language.RU: "Этот выбор отменён.",
        Language.EN: "This choice was undone.",
    },
    "vote_closed": {
        Language.RU: "Голосование закрыто.",
        Language.EN: "The vote is closed.",
    },
    "close_vote_button": {
        Language.RU: "⏹ Закрыть голосование",
        Language.EN: "⏹ Close the vote",
    },
    "choose_number": {
        Language.RU: "Введите номер от 1 до {count}.",
        Language.EN: "Type a number from 1 to {count}.",
    },
    "status": {
        Language.RU: "История «{genre}», частей: {parts}. {premise}{state}",
        Language.EN: "A {genre} story, {parts} part(s) so far. {premise}{state}",
    },
    "status_premise": {
        Language.RU: "Завязка: {premise}. ",
        Language.EN: "Premise: {premise}. ",
    },
    "status_writing": {
        Language.RU: "Рассказчик пишет.",
        Language.EN: "The narrator is writing.",
    },
    "status_waiting": {
        Language.RU: "Ждём выбора.",
        Language.EN: "Waiting for a choice.",
    },
    "status_voting": {
        Language.RU: "Идёт голосование: {votes} гол.",
        Language.EN: "Voting: {votes} vote(s) so far.",
    },
    "status_failed": {
        Language.RU: "Последняя часть не получилась — используйте retry.",
        Language.EN: "The last part failed — use retry.",
    },
    "vote_open": {
        Language.RU: "Голосование открыто до {closes}",
        Language.EN: "Voting is open until {closes}",
    },
}

_DECIDED: dict[DecidedBy, dict[Language, str]] = {
    DecidedBy.PRESS: {Language.RU: "Выбрано: {choice}", Language.EN: "Chosen: {choice}"},
    DecidedBy.VOTE: {
        Language.RU: "Группа выбрала: {choice} ({votes} гол.)",
        Language.EN: "The group chose: {choice} ({votes} votes)",
    },
    DecidedBy.TIE: {
        Language.RU: "Группа выбрала: {choice} ({votes} гол., ничья решена жребием)",
        Language.EN: "The group chose: {choice} ({votes} votes, tie broken at random)",
    },
    DecidedBy.CLOSED_EARLY: {
        Language.RU: "Голосование закрыто досрочно. Выбрано: {choice} ({votes} гол.)",
        Language.EN: "Voting closed early. Chosen: {choice} ({votes} votes)",
    },
}


def text(language: Language, code: str, **params: object) -> str:
    """The message for `code` in `language` (English if the key lacks it)."""
    entry = _TEXTS.get(code)
    if entry is None:
        return code
    template = entry.get(language) or entry[Language.EN]
    return template.format(**params) if params else template


def decision_text(language: Language, decided_by: DecidedBy, choice: str, votes: int) -> str:
    """How the choice was made, in words ("tie broken at random" included)."""
    return _DECIDED[decided_by][language].format(choice=choice, votes=votes)


def status_text(report: StatusReport) -> str:
    """One paragraph about the channel's story for the status command."""
    lang = report.session.language
    current = report.current
    if current is None or current.state is SegmentState.GENERATING:
        state = text(lang, "status_writing")
    elif current.state is SegmentState.FAILED:
        state = text(lang, "status_failed")
    elif report.tally is not None and report.tally.voters:
        state = text(lang, "status_voting", votes=report.tally.voters)
    else:
        state = text(lang, "status_waiting")
    premise = report.session.premise
    return text(
        lang,
        "status",
        genre=report.session.genre,
        parts=report.segments,
        premise=text(lang, "status_premise", premise=premise) if premise else "",
        state=state,
    )


def known_codes() -> frozenset[str]:
    """Every catalogue key (tests check both languages have each)."""
    return frozenset(_TEXTS)
