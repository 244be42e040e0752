"""User-facing texts in Russian and English, shared by every adapter.

Keys are what the engine puts in events and errors; adapters call `text()`. Counts are
written with their noun in the right plural form (Babel's CLDR rules: "1 голос",
"3 голоса", "5 голосов"): a template names the count's placeholder, `text()` is given
the number.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from functools import cache

from babel import Locale

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


class Msg(enum.StrEnum):
    """Every key of the message catalogue: a typo is a type error, not a raw key in chat."""

    STORY_EXISTS = "story_exists"
    NO_STORY = "no_story"
    CHOICE_CLOSED = "choice_closed"
    PART_OVER = "part_over"
    NOT_ALLOWED = "not_allowed"
    BUSY_GENERATING = "busy_generating"
    NOTHING_TO_UNDO = "nothing_to_undo"
    NO_VOTES_YET = "no_votes_yet"
    VOTE_COUNTED = "vote_counted"
    VOTE_CHANGED = "vote_changed"
    VOTE_SAME = "vote_same"
    CHOSEN = "chosen"
    STORY_STARTED = "story_started"
    STORY_STOPPED = "story_stopped"
    WRITING = "writing"
    RETRYING = "retrying"
    UNDONE = "undone"
    NARRATOR_UNAVAILABLE = "narrator_unavailable"
    NARRATOR_TIMEOUT = "narrator_timeout"
    NARRATOR_BACK = "narrator_back"
    NARRATOR_BUSY = "narrator_busy"
    MODEL_NOT_INSTALLED = "model_not_installed"
    MALFORMED_REPLY = "malformed_reply"
    INTERNAL_ERROR = "internal_error"
    PICTURES_OFF = "pictures_off"
    PICTURE_QUEUED = "picture_queued"
    PICTURE_DRAWING = "picture_drawing"
    PICTURE_FAILED = "picture_failed"
    PICTURES_DISABLED = "pictures_disabled"
    REDRAWING = "redrawing"
    WELCOME = "welcome"
    BEGIN_BUTTON = "begin_button"
    HELP = "help"
    HELP_DISCORD = "help_discord"
    SETTINGS_TITLE = "settings_title"
    ON = "on"
    OFF = "off"
    PICTURES_TOGGLE = "pictures_toggle"
    SETTINGS_SAVED = "settings_saved"
    REDRAW_BUTTON = "redraw_button"
    RETRY_BUTTON = "retry_button"
    NOT_ALLOWED_GUILD = "not_allowed_guild"
    DEFAULTS_TITLE = "defaults_title"
    DEFAULT_VALUE = "default_value"
    STORY_IN_THREAD = "story_in_thread"
    UNKNOWN_WORKFLOW = "unknown_workflow"
    PART_RETRIED = "part_retried"
    PART_UNDONE = "part_undone"
    VOTE_CLOSED = "vote_closed"
    CLOSE_VOTE_BUTTON = "close_vote_button"
    CHOOSE_NUMBER = "choose_number"
    STATUS = "status"
    STATUS_PREMISE = "status_premise"
    STATUS_WRITING = "status_writing"
    STATUS_WAITING = "status_waiting"
    STATUS_VOTING = "status_voting"
    STATUS_FAILED = "status_failed"
    STATUS_PAUSED = "status_paused"
    STATUS_DRAFTS = "status_drafts"
    STATUS_DRAFT_UNDERWAY = "status_draft_underway"
    VOTE_OPEN = "vote_open"
    VOTE_CLOSES_IN = "vote_closes_in"
    VOTE_CLOSING = "vote_closing"
    SECONDS_SHORT = "seconds_short"
    NARRATION_RESTARTED = "narration_restarted"
    BOOK_UNTITLED = "book_untitled"
    BOOK_PART = "book_part"
    BOOK_CHOSEN = "book_chosen"
    BOOK_PICTURE = "book_picture"
    BOOK_BEGUN = "book_begun"
    BOOK_GOES_ON = "book_goes_on"
    BOOK_THE_END = "book_the_end"
    BOOK_READY = "book_ready"
    BOOK_LINK = "book_link"
    BOOK_SAVED = "book_saved"
    BOOK_TOO_LARGE = "book_too_large"
    # Safety: content rating, moderation of typed text, limits (issue 15)
    MATURE_NEEDS_AGE_RESTRICTED = "mature_needs_age_restricted"
    MATURE_NEEDS_ADMIN = "mature_needs_admin"
    STATUS_RATING = "status_rating"
    RATING_BUTTON = "rating_button"
    PREMISE_TOO_LONG = "premise_too_long"
    OWN_ACTION_BUTTON = "own_action_button"
    OWN_ACTION_PROMPT = "own_action_prompt"
    OWN_ACTION_TOO_LONG = "own_action_too_long"
    OWN_ACTION_EMPTY = "own_action_empty"
    OWN_ACTION_TAKEN = "own_action_taken"
    OWN_ACTIONS_FULL = "own_actions_full"
    OWN_ACTIONS_OFF = "own_actions_off"
    OWN_ACTION_ON_BALLOT = "own_action_on_ballot"
    OWN_ACTIONS_TOGGLE = "own_actions_toggle"
    OWN_ACTION_PROMPT_OLD = "own_action_prompt_old"
    OWN_ACTION_NOT_YOURS = "own_action_not_yours"
    TEXT_BLOCKED = "text_blocked"
    NOT_ALLOWED_PATTERNS = "not_allowed_patterns"
    PATTERN_EMPTY = "pattern_empty"
    PATTERN_TOO_LONG = "pattern_too_long"
    PATTERN_BAD_REGEX = "pattern_bad_regex"
    PATTERN_TOO_COMPLEX = "pattern_too_complex"
    PATTERNS_FULL = "patterns_full"
    PATTERN_EXISTS = "pattern_exists"
    PATTERN_UNKNOWN = "pattern_unknown"
    PATTERN_ADDED = "pattern_added"
    PATTERN_REMOVED = "pattern_removed"
    PATTERN_LIST = "pattern_list"
    PATTERN_LIST_EMPTY = "pattern_list_empty"
    START_COOLDOWN = "start_cooldown"
    OWN_ACTION_COOLDOWN = "own_action_cooldown"
    TOO_MANY_STORIES = "too_many_stories"
    RETRY_LIMIT = "retry_limit"
    REDRAW_LIMIT = "redraw_limit"
    CHAT_DEFAULTS = "chat_defaults"
    PATTERN_MATCHES_EMPTY = "pattern_matches_empty"
    # Arcs, endings and participation (issue 16)
    END_STORY_CHOICE = "end_story_choice"
    STORY_HAS_ENDED = "story_has_ended"
    THE_END = "the_end"
    ENDING_SUMMARY = "ending_summary"
    ENDING_BOOK = "ending_book"
    STARTER_CHOOSES = "starter_chooses"
    VOTE_EXTENDED = "vote_extended"
    STARTER_DECIDES = "starter_decides"
    REROLL_BUTTON = "reroll_button"
    MODE_STARTER_BUTTON = "mode_starter_button"
    MODE_ANYONE_BUTTON = "mode_anyone_button"
    MODE_VOTE_BUTTON = "mode_vote_button"
    NO_VOTES_RANDOM_BUTTON = "no_votes_random_button"
    NO_VOTES_STARTER_BUTTON = "no_votes_starter_button"
    STORY_LENGTH = "story_length"
    LENGTH_SHORT = "length_short"
    LENGTH_MEDIUM = "length_medium"
    LENGTH_LONG = "length_long"
    LENGTH_ENDLESS = "length_endless"
    REROLLING = "rerolling"
    REROLL_FAILED = "reroll_failed"
    STATUS_LENGTH = "status_length"
    STATUS_MODE = "status_mode"
    # Character cards and lorebooks (issue 16)
    CARD_TOO_LARGE = "card_too_large"
    CARD_NOT_A_CARD = "card_not_a_card"
    CARD_NO_CHUNK = "card_no_chunk"
    CARD_DAMAGED = "card_damaged"
    CARD_BAD_SCHEMA = "card_bad_schema"
    CARD_FIELD_TOO_LONG = "card_field_too_long"
    CARD_SCRIPT = "card_script"
    LOREBOOK_BAD = "lorebook_bad"
    LOREBOOK_TOO_MANY = "lorebook_too_many"
    LOREBOOK_ATTACHED = "lorebook_attached"
    CARD_DOWNLOAD_FAILED = "card_download_failed"
    LOREBOOK_HOW = "lorebook_how"
    # Pictures that keep their faces; illustrate when it matters (issue 16)
    ILLUSTRATE_EVERY_PART = "illustrate_every_part"
    ILLUSTRATE_SCENE_CHANGE = "illustrate_scene_change"


_TEXTS: dict[Msg, dict[Language, str]] = {
    Msg.CARD_TOO_LARGE: {
        Language.RU: "Файл слишком большой: {size} КБ, можно не больше {limit} КБ.",
        Language.EN: "The file is too large: {size} KB, at most {limit} KB fit.",
    },
    Msg.CARD_NOT_A_CARD: {
        Language.RU: "Это не карточка персонажа: нужен JSON карточки (V2/V3) или PNG с "
        "карточкой внутри.",
        Language.EN: "This is not a character card: send a card's JSON (V2/V3) or a PNG "
        "with a card inside.",
    },
    Msg.CARD_NO_CHUNK: {
        Language.RU: "В этом PNG нет карточки персонажа (нет текстового блока chara или ccv3).",
        Language.EN: "This PNG holds no character card (no chara or ccv3 text chunk).",
    },
    Msg.CARD_DAMAGED: {
        Language.RU: "Карточка в файле повреждена: {what}.",
        Language.EN: "The card in the file is damaged: {what}.",
    },
    Msg.CARD_BAD_SCHEMA: {
        Language.RU: "Файл не соответствует формату карточки или лорбука: поле {field} "
        "отсутствует или неверно.",
        Language.EN: "The file does not follow the card or lorebook format: the field "
        "{field} is missing or wrong.",
    },
    Msg.CARD_FIELD_TOO_LONG: {
        Language.RU: "Поле {field} слишком длинное: можно не больше {limit} символов.",
        Language.EN: "The field {field} is too long: at most {limit} characters fit.",
    },
    Msg.CARD_SCRIPT: {
        Language.RU: "Поле {field} содержит скрипт или активный HTML; такие файлы не принимаются.",
        Language.EN: "The field {field} holds a script or active HTML; such files are refused.",
    },
    Msg.LOREBOOK_BAD: {
        Language.RU: "Это не лорбук: нужен JSON World Info из SillyTavern (с полем entries).",
        Language.EN: "This is not a lorebook: send SillyTavern World Info JSON (with entries).",
    },
    Msg.LOREBOOK_TOO_MANY: {
        Language.RU: "В лорбуке слишком много записей: {count}, можно не больше {limit}.",
        Language.EN: "The lorebook has too many entries: {count}, at most {limit} fit.",
    },
    Msg.LOREBOOK_ATTACHED: {
        Language.RU: "Лорбук подключён к истории: {entries}.",
        Language.EN: "Lorebook attached to the story: {entries}.",
    },
    Msg.LOREBOOK_HOW: {
        Language.RU: "Отправьте файл лорбука (JSON World Info) с подписью /lorebook или "
        "ответьте на него командой /lorebook.",
        Language.EN: "Send the lorebook file (World Info JSON) with /lorebook as its caption, "
        "or answer it with /lorebook.",
    },
    Msg.CARD_DOWNLOAD_FAILED: {
        Language.RU: "Не удалось получить файл. Попробуйте отправить его ещё раз.",
        Language.EN: "The file could not be fetched. Try sending it again.",
    },
    Msg.MATURE_NEEDS_AGE_RESTRICTED: {
        Language.RU: "Рейтинг «для взрослых» доступен только в каналах с возрастным "
        "ограничением. Включите его в настройках канала или выберите другой рейтинг.",
        Language.EN: "The mature rating is only allowed in age-restricted channels. Mark "
        "the channel age-restricted in its settings or choose another rating.",
    },
    Msg.MATURE_NEEDS_ADMIN: {
        Language.RU: "Рейтинг «для взрослых» может включить только администратор чата.",
        Language.EN: "Only a chat administrator can enable the mature rating.",
    },
    Msg.STATUS_RATING: {
        Language.RU: " Рейтинг: {rating}.",
        Language.EN: " Rating: {rating}.",
    },
    Msg.PREMISE_TOO_LONG: {
        Language.RU: "Завязка слишком длинная: {length} символов, можно не больше {limit}. "
        "Сократите её и начните снова.",
        Language.EN: "The premise is too long: {length} characters, at most {limit} fit. "
        "Shorten it and start again.",
    },
    Msg.OWN_ACTION_BUTTON: {Language.RU: "✍️ Своё действие", Language.EN: "✍️ Your own action"},
    Msg.OWN_ACTION_PROMPT: {
        Language.RU: "✍️ {name}, что вы делаете? Ответьте на это сообщение (до {limit} символов).",
        Language.EN: "✍️ {name}, what do you do? Reply to this message (at most {limit} "
        "characters).",
    },
    Msg.OWN_ACTION_TOO_LONG: {
        Language.RU: "Действие слишком длинное: {length} символов, можно не больше {limit}. "
        "Сократите его и предложите снова.",
        Language.EN: "The action is too long: {length} characters, at most {limit} fit. "
        "Shorten it and offer it again.",
    },
    Msg.OWN_ACTION_EMPTY: {
        Language.RU: "Напишите, что делает герой.",
        Language.EN: "Write what the hero does.",
    },
    Msg.OWN_ACTION_TAKEN: {
        Language.RU: "Вы уже предложили своё действие в этой части.",
        Language.EN: "You have already offered your own action for this part.",
    },
    Msg.OWN_ACTIONS_FULL: {
        Language.RU: "В этой части уже предложено столько своих действий, сколько помещается.",
        Language.EN: "This part already has as many own actions as fit.",
    },
    Msg.OWN_ACTIONS_OFF: {
        Language.RU: "Свои действия в этой истории выключены.",
        Language.EN: "Own actions are turned off in this story.",
    },
    Msg.OWN_ACTION_ON_BALLOT: {
        Language.RU: "Ваше действие добавлено в голосование: {choice}",
        Language.EN: "Your action is on the ballot: {choice}",
    },
    Msg.OWN_ACTIONS_TOGGLE: {
        Language.RU: "✍️ Свои действия: {state}",
        Language.EN: "✍️ Own actions: {state}",
    },
    Msg.OWN_ACTION_PROMPT_OLD: {
        Language.RU: "Этот запрос устарел. Нажмите «✍️ Своё действие» ещё раз.",
        Language.EN: "This prompt has expired. Press “✍️ Your own action” again.",
    },
    Msg.OWN_ACTION_NOT_YOURS: {
        Language.RU: "Этот запрос для другого игрока. Нажмите «✍️ Своё действие», чтобы "
        "предложить своё.",
        Language.EN: "This prompt is for another player. Press “✍️ Your own action” to offer yours.",
    },
    Msg.TEXT_BLOCKED: {
        Language.RU: "Этот текст содержит слово, запрещённое здесь администраторами. "
        "Измените его и попробуйте снова.",
        Language.EN: "This text contains a word the administrators blocked here. "
        "Change it and try again.",
    },
    Msg.NOT_ALLOWED_PATTERNS: {
        Language.RU: "Запрещённые слова настраивают только администраторы.",
        Language.EN: "Only administrators can manage blocked words.",
    },
    Msg.PATTERN_EMPTY: {
        Language.RU: "Укажите слово, фразу или /регулярное выражение/.",
        Language.EN: "Give a word, a phrase or a /regular expression/.",
    },
    Msg.PATTERN_TOO_LONG: {
        Language.RU: "Слишком длинный шаблон: не больше {limit} символов.",
        Language.EN: "The pattern is too long: at most {limit} characters.",
    },
    Msg.PATTERN_BAD_REGEX: {
        Language.RU: "Это не регулярное выражение: {reason}.",
        Language.EN: "This is not a valid regular expression: {reason}.",
    },
    Msg.PATTERN_TOO_COMPLEX: {
        Language.RU: "Регулярное выражение слишком сложное для проверки: без обратных "
        "ссылок, без повторов внутри повторяемой группы, и мало повторов: один * или + "
        "(рядом не больше одного ?) либо короткие {m,n}, n до 20.",
        Language.EN: "The regular expression is too complex to check safely: no "
        "backreferences, no repetition inside a repeated group, and few repetitions: one "
        "* or + (with at most one ? beside it) or short {m,n}, n up to 20.",
    },
    Msg.PATTERN_MATCHES_EMPTY: {
        Language.RU: "Это выражение совпадает с пустым текстом и запретило бы всё.",
        Language.EN: "This expression matches empty text: it would block everything.",
    },
    Msg.PATTERNS_FULL: {
        Language.RU: "Здесь уже {limit} запрещённых шаблонов; сначала удалите ненужные.",
        Language.EN: "There are {limit} blocked patterns here already; remove some first.",
    },
    Msg.PATTERN_EXISTS: {
        Language.RU: "Этот шаблон уже запрещён.",
        Language.EN: "This pattern is blocked already.",
    },
    Msg.PATTERN_UNKNOWN: {
        Language.RU: "Такого шаблона в списке нет.",
        Language.EN: "There is no such pattern in the list.",
    },
    Msg.PATTERN_ADDED: {
        Language.RU: "Запрещено: {pattern}",
        Language.EN: "Blocked: {pattern}",
    },
    Msg.PATTERN_REMOVED: {
        Language.RU: "Больше не запрещено: {pattern}",
        Language.EN: "No longer blocked: {pattern}",
    },
    Msg.PATTERN_LIST: {
        Language.RU: "Запрещённые слова и шаблоны:\n{patterns}",
        Language.EN: "Blocked words and patterns:\n{patterns}",
    },
    Msg.PATTERN_LIST_EMPTY: {
        Language.RU: "Запрещённых слов здесь нет.",
        Language.EN: "No words are blocked here.",
    },
    Msg.START_COOLDOWN: {
        Language.RU: "Новую историю можно начать через {wait}.",
        Language.EN: "You can start a new story in {wait}.",
    },
    Msg.OWN_ACTION_COOLDOWN: {
        Language.RU: "Своё действие можно предложить через {wait}.",
        Language.EN: "You can suggest your own action again in {wait}.",
    },
    Msg.TOO_MANY_STORIES: {
        Language.RU: "Вы уже ведёте {stories} одновременно. Новую можно начать, когда "
        "одна из них закончится.",
        Language.EN: "You are running {stories} at once already. You can start another "
        "when one of them ends.",
    },
    Msg.RETRY_LIMIT: {
        Language.RU: "Эту часть уже переписывали {times}. Переписать снова можно следующую часть.",
        Language.EN: "This part has been rewritten {times} already. The next part can be "
        "rewritten again.",
    },
    Msg.CHAT_DEFAULTS: {
        Language.RU: "Нет идущей истории. Рейтинг новых историй в этом чате: {rating}. "
        "Запрещённые слова: /settings blocked, /settings block слово, "
        "/settings unblock слово.",
        Language.EN: "No story is running. Rating of new stories in this chat: {rating}. "
        "Blocked words: /settings blocked, /settings block word, /settings unblock word.",
    },
    Msg.REDRAW_LIMIT: {
        Language.RU: "Картинку этой части уже перерисовывали {times}. Перерисовать снова "
        "можно картинку следующей части.",
        Language.EN: "This part's picture has been redrawn {times} already. The next "
        "part's picture can be redrawn again.",
    },
    Msg.RATING_BUTTON: {Language.RU: "🔞 Рейтинг: {rating}", Language.EN: "🔞 Rating: {rating}"},
    Msg.ILLUSTRATE_EVERY_PART: {
        Language.RU: "🖼 Картинка к каждой части",
        Language.EN: "🖼 A picture every part",
    },
    Msg.ILLUSTRATE_SCENE_CHANGE: {
        Language.RU: "🖼 Только при смене сцены",
        Language.EN: "🖼 Only when the scene changes",
    },
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
    Msg.END_STORY_CHOICE: {
        Language.RU: "🏁 Закончить историю здесь",
        Language.EN: "🏁 End the story here",
    },
    Msg.STORY_HAS_ENDED: {
        Language.RU: "Эта история уже закончилась.",
        Language.EN: "This story has ended.",
    },
    Msg.THE_END: {Language.RU: "🏁 Конец.", Language.EN: "🏁 The end."},
    Msg.ENDING_SUMMARY: {
        Language.RU: "«{title}»: {parts}, до самой развязки.",
        Language.EN: "“{title}”: {parts}, all the way to its ending.",
    },
    Msg.ENDING_BOOK: {
        Language.RU: "Вся история книгой с картинками: {command}",
        Language.EN: "The whole story as an illustrated book: {command}",
    },
    Msg.STARTER_CHOOSES: {
        Language.RU: "В этой истории выбирает только тот, кто её начал.",
        Language.EN: "Only the player who started this story chooses in it.",
    },
    Msg.VOTE_EXTENDED: {
        Language.RU: "Пока никто не проголосовал: голосование продлено ещё на {window} с.",
        Language.EN: "Nobody has voted yet: the vote is extended by {window} s.",
    },
    Msg.STARTER_DECIDES: {
        Language.RU: "Никто не проголосовал: выбор за тем, кто начал историю.",
        Language.EN: "Nobody voted: the player who started the story chooses.",
    },
    Msg.REROLL_BUTTON: {Language.RU: "🎲 Другие варианты", Language.EN: "🎲 New choices"},
    Msg.MODE_STARTER_BUTTON: {Language.RU: "👤 Выбирает начавший", Language.EN: "👤 Starter"},
    Msg.MODE_ANYONE_BUTTON: {Language.RU: "⚡ Любой", Language.EN: "⚡ Anyone"},
    Msg.MODE_VOTE_BUTTON: {Language.RU: "🗳 Голосование", Language.EN: "🗳 Vote"},
    Msg.NO_VOTES_RANDOM_BUTTON: {
        Language.RU: "Без голосов: случайно",
        Language.EN: "No votes: random",
    },
    Msg.NO_VOTES_STARTER_BUTTON: {
        Language.RU: "Без голосов: решает начавший",
        Language.EN: "No votes: the starter",
    },
    Msg.STORY_LENGTH: {Language.RU: "Длина истории", Language.EN: "Length of the story"},
    Msg.LENGTH_SHORT: {
        Language.RU: "Короткая (около 8 частей)",
        Language.EN: "Short (about 8 parts)",
    },
    Msg.LENGTH_MEDIUM: {
        Language.RU: "Средняя (около 15 частей)",
        Language.EN: "Medium (about 15 parts)",
    },
    Msg.LENGTH_LONG: {
        Language.RU: "Длинная (около 30 частей)",
        Language.EN: "Long (about 30 parts)",
    },
    Msg.LENGTH_ENDLESS: {Language.RU: "Бесконечная", Language.EN: "Endless"},
    Msg.REROLLING: {
        Language.RU: "Рассказчик придумывает другие варианты…",
        Language.EN: "The narrator is thinking of other choices…",
    },
    Msg.REROLL_FAILED: {
        Language.RU: "Не удалось придумать другие варианты; прежние остаются.",
        Language.EN: "No new choices came; the old ones stay.",
    },
    Msg.STATUS_LENGTH: {Language.RU: " Длина: {length}.", Language.EN: " Length: {length}."},
    Msg.STATUS_MODE: {Language.RU: " Кто выбирает: {mode}.", Language.EN: " Who chooses: {mode}."},
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
