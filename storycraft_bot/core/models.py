"""The neutral data the core, the store and the adapters share."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

MIN_CHOICES = 2
MAX_CHOICES = 4
#: Longest choice text the core hands out; fits a Discord button label (80).
CHOICE_MAX_CHARS = 80


class Platform(enum.StrEnum):
    """Where a story is told."""

    DISCORD = "discord"
    TELEGRAM = "telegram"
    CONSOLE = "console"
    WEB = "web"


class Language(enum.StrEnum):
    """Languages the narrator writes in."""

    RU = "ru"
    EN = "en"


class Rating(enum.StrEnum):
    """How much a story may show (see core/rating.py); `safe` unless a place chooses."""

    SAFE = "safe"
    TEEN = "teen"
    MATURE = "mature"


@dataclass(frozen=True, slots=True)
class ChannelKey:
    """One place a story can live in: the key the core and SQLite use."""

    platform: Platform
    channel_id: str
    thread_id: str = ""

    def __str__(self) -> str:
        suffix = f"/{self.thread_id}" if self.thread_id else ""
        return f"{self.platform.value}:{self.channel_id}{suffix}"


@dataclass(frozen=True, slots=True)
class Place:
    """A channel plus what the core needs to know about it.

    `guild_id` is what the GPU queue is fair between (a Telegram chat is its own guild);
    `is_group` switches between "a press decides" and "members vote".
    """

    key: ChannelKey
    guild_id: str
    is_group: bool
    #: The platform marks the channel for adults (Discord's nsfw flag); not stored.
    age_restricted: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who pressed or typed something. `can_moderate` is the platform's own verdict
    (Discord's Manage Messages, a Telegram chat administrator)."""

    user_id: str
    name: str
    can_moderate: bool = False
    can_manage_guild: bool = False  # may change the server's defaults (Manage Server)


class SessionState(enum.StrEnum):
    """Life of a story."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class SegmentState(enum.StrEnum):
    """Life of one segment of a story."""

    GENERATING = "generating"
    OPEN = "open"  # choices shown, waiting for a press or a vote
    DECIDED = "decided"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # replaced by retry or undo; kept for the record


class DecidedBy(enum.StrEnum):
    """How a choice was made."""

    PRESS = "press"  # private chat: the press decides at once
    VOTE = "vote"  # most votes when the window ended
    TIE = "tie"  # most votes, tie broken at random
    CLOSED_EARLY = "closed_early"  # the starter closed the vote
    NO_VOTES = "no_votes"  # nobody voted, even after the extension: chosen at random


class ImageState(enum.StrEnum):
    """Where a segment's picture is."""

    NONE = "none"
    QUEUED = "queued"
    DRAWING = "drawing"
    READY = "ready"
    FAILED = "failed"
    OFF = "off"


class ImageSource(enum.StrEnum):
    """Who wrote a segment's image prompt."""

    MODEL = "model"  # the language model
    RULE = "rule"  # the rule-made fallback


class IllustrateMode(enum.StrEnum):
    """Which parts of a story get a picture."""

    EVERY_PART = "every_part"
    SCENE_CHANGE = "scene_change"  # only when the narrator says the scene changed


class PictureFailure(enum.StrEnum):
    """Why a picture did not come."""

    OUTAGE = "outage"  # no server could be reached (the story goes on in text)
    RENDER = "render"  # the server ran the workflow and it failed
    WORKFLOW = "workflow"  # the server refused the workflow


class StoryLength(enum.StrEnum):
    """How many parts a story is planned for (see core/arc.py); endless never ends."""

    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"
    ENDLESS = "endless"


class Participation(enum.StrEnum):
    """Who chooses in a group: only the starter, the first press, or a timed vote."""

    STARTER = "starter"
    ANYONE = "anyone"
    VOTE = "vote"


class NoVoteRule(enum.StrEnum):
    """What decides a group vote nobody voted in, after its one extension."""

    RANDOM = "random"  # a random choice
    STARTER = "starter"  # the starter's next press


@dataclass(frozen=True, slots=True)
class StorySettings:
    """Per-session settings, stored as JSON beside the session."""

    vote_window_seconds: float = 60.0
    pictures: bool = True
    segment_words: int = 120
    choices: int = 3
    workflow: str = ""  # ComfyUI workflow by name; "" for the configured default
    rating: Rating = Rating.SAFE
    own_actions: bool = True  # players may type their own action (issue 15)
    length: StoryLength = StoryLength.MEDIUM  # fixed at the start
    participation: Participation = Participation.VOTE  # in groups; a private chat's press decides
    no_votes: NoVoteRule = NoVoteRule.RANDOM
    style: str = ""  # picture style by name (core/styles.py); "" for the genre's
    illustrate: IllustrateMode | None = None  # None: the default for the story


@dataclass(frozen=True, slots=True)
class GuildDefaults:
    """What a server sets for its new stories (None: keep the bot's own default)."""

    vote_window_seconds: float | None = None
    pictures: bool | None = None
    workflow: str | None = None
    threads: bool = False  # each new story in its own thread (Discord)
    rating: Rating | None = None
    own_actions: bool | None = None
    style: str | None = None  # picture style by name


@dataclass(frozen=True, slots=True)
class Session:
    """One story in one channel."""

    id: int
    place: Place
    starter: Actor
    state: SessionState
    language: Language
    genre: str
    premise: str
    settings: StorySettings
    created_at: float
    updated_at: float
    #: The unguessable id of the story's read-only book (its link).
    book_id: str = ""
    #: The story reached its ending (stopped by itself, issue 16), not stopped by someone.
    ended: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a story with its choices and, later, its picture."""

    id: int
    session_id: int
    index: int
    state: SegmentState
    narration: str
    choices: tuple[str, ...]
    scene: str
    chosen_index: int | None = None
    decided_by: DecidedBy | None = None
    #: The choice of the previous segment that led here (empty for the opening).
    prompt_choice: str = ""
    vote_closes_at: float | None = None
    image_prompt: str = ""
    image_negative: str = ""
    image_prompt_source: ImageSource | None = None
    image_state: ImageState = ImageState.NONE
    image_file: str = ""
    image_seed: int | None = None
    image_server: str = ""
    #: The ComfyUI prompt the picture waits for, from its submission until it is stored.
    submitted: SubmittedPrompt | None = None
    image_uploads: dict[str, str] = field(default_factory=dict)  # platform -> its file ref
    created_at: float = 0.0
    #: Automatic tries after a narrator outage that led here; when the next one is due.
    auto_retries: int = 0
    auto_retry_at: float | None = None
    #: Actions players typed for this part; their texts are the last of `choices`.
    own_actions: tuple[OwnAction, ...] = ()

    def own_action(self, choice_index: int | None) -> OwnAction | None:
        """Who typed choice `choice_index`, if a player did."""
        return next((a for a in self.own_actions if a.choice_index == choice_index), None)

    #: A group vote nobody voted in: 0 its first window, 1 extended once, 2 the
    #: extension ran out too (see NoVoteRule).
    vote_extensions: int = 0


class MessageKind(enum.StrEnum):
    """What a platform message that shows a segment is."""

    TEXT = "text"  # narration (the last one carries the status lines and buttons)
    PICTURE = "picture"  # the main message, turned into the picture with a caption
    PHOTO_REPLY = "photo_reply"  # the picture as a reply to the main message


@dataclass(frozen=True, slots=True)
class MessageRef:
    """One platform message that shows (part of) a segment."""

    platform: Platform
    kind: MessageKind
    message_id: int


@dataclass(frozen=True, slots=True)
class Character:
    """Someone or something recurring, with how it looks (for consistent pictures)."""

    name: str
    looks: str


@dataclass(frozen=True, slots=True)
class StoryMemory:
    """What the narrator remembers beyond the last few segments."""

    summary: str = ""
    summary_upto: int = -1  # last segment index folded into the summary
    characters: tuple[Character, ...] = ()


@dataclass(frozen=True, slots=True)
class VoteTally:
    """Live counts of a group vote."""

    segment_id: int
    counts: tuple[int, ...]
    voters: int
    closes_at: float | None


@dataclass(frozen=True, slots=True)
class SegmentDraft:
    """What the narrator returns for one segment."""

    narration: str
    choices: tuple[str, ...]
    scene: str
    model: str = ""
    repaired: bool = False
    #: The narrator's word that the scene changed enough for a new picture.
    new_scene: bool = True


@dataclass(frozen=True, slots=True)
class ImagePrompt:
    """An English Stable Diffusion prompt and who wrote it."""

    positive: str
    negative: str
    source: ImageSource


@dataclass(frozen=True, slots=True)
class Draft:
    """A continuation written in advance: what would follow choice `choice_index` of the
    open part `segment_id`, with its image prompt. `basis` fingerprints the request it
    was written from; the real turn uses it only if it would send the same."""

    session_id: int
    segment_id: int
    choice_index: int
    basis: str
    text: SegmentDraft
    prompt: ImagePrompt | None = None


@dataclass(frozen=True, slots=True)
class DraftState:
    """Prewriting of the open part, for /status: finished drafts and the one underway."""

    ready: int
    writing: bool


@dataclass(frozen=True, slots=True)
class SubmittedPrompt:
    """A picture's prompt as ComfyUI got it: which server, under which id, which seed."""

    server: str
    prompt_id: str
    seed: int


@dataclass(frozen=True, slots=True)
class PictureStyle:
    """How a story's pictures look; file names are those on the ComfyUI server."""

    name: str
    positive: str
    negative: str = ""
    lora: str = ""  # a file in ComfyUI's models/loras
    lora_strength: float = 1.0
    vae: str = ""  # a file in ComfyUI's models/vae
    workflow: str = ""  # "" for the story's (or the configured) workflow


@dataclass(frozen=True, slots=True)
class CharacterFace:
    """What keeps a character's face from picture to picture (stored per story)."""

    name: str
    seed: int
    portrait: str = ""  # the portrait's file; "" until one is drawn


@dataclass(frozen=True, slots=True)
class PictureLooks:
    """A picture's style, seed and reference, chosen by the core for its illustrator."""

    style: PictureStyle | None = None
    seed: int | None = None  # the shown character's seed; None: a fresh one
    character: str = ""  # who the seed and reference belong to
    reference: str = ""  # their portrait file, for workflows with a reference_image
    portrait_for: str = ""  # this picture (or the portrait drawn for it) becomes theirs
    #: A portrait to draw first when the workflow wants a reference and there is none.
    portrait_prompt: str = ""


@dataclass(frozen=True, slots=True)
class PictureJob:
    """A request for one segment's picture, handed to the Illustrator port."""

    session_id: int
    segment_id: int
    place: Place
    prompt: ImagePrompt
    workflow: str = ""
    #: Recovered after a restart: drawn after every live picture, never replaced by one.
    backlog: bool = False
    #: Submitted before a restart: waited for again (or fetched) instead of drawn anew.
    submitted: SubmittedPrompt | None = None
    #: What keeps the picture like the story's others: style, seed, reference portrait.
    looks: PictureLooks = field(default_factory=lambda: PictureLooks())
    #: The story's, for its reports (a queue position is told without a read).
    language: Language = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class Picture:
    """A finished picture: where it is stored and how to make it again."""

    path: str
    seed: int
    server: str
    prompt_id: str
    seconds: float
    portrait: str = ""  # a character's portrait drawn first as its reference (issue 16)


@dataclass(slots=True)
class StatusReport:
    """What `/story status` shows."""

    session: Session
    segments: int
    current: Segment | None
    tally: VoteTally | None = None
    memory: StoryMemory = field(default_factory=StoryMemory)
    drafts: DraftState | None = None  # shown to the starter only


@dataclass(frozen=True, slots=True)
class OwnAction:
    """An action a player typed for a part: one more entry on its ballot, by its author."""

    choice_index: int
    user_id: str
    user_name: str
