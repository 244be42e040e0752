"""StoryCraft's error classes, one tree for the whole core.

StoryCraftError
├── SettingsError            a missing or invalid setting (one line, names the variable)
├── StorageError
│   └── SchemaTooNewError    the database was written by a newer StoryCraft
├── NarratorError            Ollama could not give us a segment
│   ├── NarratorUnavailable  cannot connect, 5xx, 503 queue full (retried first)
│   ├── ModelNotInstalled    404 for the model (and the fallback)
│   ├── NarratorTimeout      no first token, or no next token, in time
│   └── MalformedReply       the reply could not be understood, even repaired
├── IllustratorError         ComfyUI could not give us a picture
│   ├── IllustratorUnavailable  cannot connect, 5xx (tried again later)
│   ├── WorkflowError        the workflow does not fit the server
│   ├── ServerTooOld         the server's ComfyUI is older than the client needs
│   ├── RenderFailed         the prompt failed on the server
│   │   └── PromptVanished   the prompt left the server's queue unfinished (deleted)
│   └── RenderInterrupted    the prompt was interrupted
└── StoryActionError         a user's action that cannot be done; `code` picks the text
"""

from __future__ import annotations

from storycraft_bot.core.texts import Msg


class StoryCraftError(Exception):
    """Base of every error StoryCraft raises on purpose."""


class SettingsError(StoryCraftError):
    """A setting is missing or invalid; the message is one line for the operator."""


class StorageError(StoryCraftError):
    """The database cannot be used."""


class SchemaTooNewError(StorageError):
    """The database schema is newer than this code knows."""


class NarratorError(StoryCraftError):
    """The language model did not produce a usable segment."""


class NarratorUnavailable(NarratorError):
    """Ollama could not be reached or answered with a server error."""


class ModelNotInstalled(NarratorError):
    """The model is not installed on the Ollama server."""

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model} is not installed: run `ollama pull {model}`")
        self.model = model


class NarratorTimeout(NarratorError):
    """Ollama was too slow: no first token in time, or no next token for too long."""


class MalformedReply(NarratorError):
    """The model's reply could not be parsed or repaired."""


class IllustratorError(StoryCraftError):
    """ComfyUI did not produce a picture; `str(err)` is short and safe to show users."""


class IllustratorUnavailable(IllustratorError):
    """ComfyUI could not be reached, answered 5xx, or stopped answering."""


class WorkflowError(IllustratorError):
    """The workflow is wrong: bad file or bindings, unknown nodes, a missing checkpoint."""


class ServerTooOld(IllustratorError):
    """The ComfyUI server is older than the client needs (its own prompt_id: 0.3.45)."""


class RenderFailed(IllustratorError):
    """ComfyUI reported an execution error (the traceback goes to the log only)."""


class PromptVanished(RenderFailed):
    """The prompt is neither queued nor finished on its server: someone deleted it, or the
    server restarted. The picture fails (a redraw is offered)."""


class RenderInterrupted(IllustratorError):
    """The prompt was interrupted on purpose."""


class StoryActionError(StoryCraftError):
    """A user action that cannot be done now; adapters show `code` translated."""

    def __init__(self, code: Msg, **params: object) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params
