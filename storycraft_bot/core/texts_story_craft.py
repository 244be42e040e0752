"""The message catalogue's texts for story craft (issue 16): lengths, arcs and endings,
who chooses, re-rolls, character cards and lorebooks, when to illustrate."""

from __future__ import annotations

from storycraft_bot.core.messages import Msg
from storycraft_bot.core.models import Language

STORY_CRAFT_TEXTS: dict[Msg, dict[Language, str]] = {
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
    Msg.ILLUSTRATE_EVERY_PART: {
        Language.RU: "🖼 Картинка к каждой части",
        Language.EN: "🖼 A picture every part",
    },
    Msg.ILLUSTRATE_SCENE_CHANGE: {
        Language.RU: "🖼 Только при смене сцены",
        Language.EN: "🖼 Only when the scene changes",
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
