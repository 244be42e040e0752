"""The message catalogue's texts for safety and players' own actions (issue 15):
content ratings, refused typed text, blocked words, own actions, limits on abuse."""

from __future__ import annotations

from storycraft_bot.core.messages import Msg
from storycraft_bot.core.models import Language

SAFETY_TEXTS: dict[Msg, dict[Language, str]] = {
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
}
