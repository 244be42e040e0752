"""The operator's figures, as a port: what the core counts, never how it is exported.

The core and the screens call a `Metrics`; the composition root passes one built on
prometheus-client (adapters/prometheus_metrics.py), tests and the console `NullMetrics`.
Labels are enums, so a dashboard never meets a typo.
"""

from __future__ import annotations

import enum
from typing import Protocol

from storycraft_bot.core.models import Platform
from storycraft_bot.core.texts import Msg


class FailureReason(enum.StrEnum):
    """Why a part or its picture failed (the `reason` label of the failures counter)."""

    NARRATOR_UNAVAILABLE = "narrator_unavailable"
    NARRATOR_TIMEOUT = "narrator_timeout"
    MALFORMED_REPLY = "malformed_reply"
    MODEL_NOT_INSTALLED = "model_not_installed"
    INTERNAL_ERROR = "internal_error"
    PICTURE_FAILED = "picture_failed"
    PICTURE_OUTAGE = "picture_outage"  # ComfyUI unreachable: tried again later
    OTHER = "other"


_SEGMENT_REASONS = {
    Msg.NARRATOR_UNAVAILABLE: FailureReason.NARRATOR_UNAVAILABLE,
    Msg.NARRATOR_TIMEOUT: FailureReason.NARRATOR_TIMEOUT,
    Msg.MALFORMED_REPLY: FailureReason.MALFORMED_REPLY,
    Msg.MODEL_NOT_INSTALLED: FailureReason.MODEL_NOT_INSTALLED,
    Msg.INTERNAL_ERROR: FailureReason.INTERNAL_ERROR,
}


def segment_failure(code: Msg) -> FailureReason:
    """The label for a failed part's message key (OTHER for a key not listed)."""
    return _SEGMENT_REASONS.get(code, FailureReason.OTHER)


class Metrics(Protocol):
    """What the bot reports; each call is cheap and never raises."""

    def turn_finished(self, platform: Platform, seconds: float) -> None:
        """A part was written, `seconds` after it was asked for."""

    def failed(self, reason: FailureReason) -> None: ...

    def picture_queued(self, waiting: int) -> None:
        """A picture joined the queue; `waiting` pictures wait now."""

    def picture_started(self, waiting: int, waited: float, drawing: int) -> None:
        """A picture left the queue for ComfyUI after `waited` seconds."""

    def picture_ended(self, waiting: int, drawing: int) -> None:
        """A picture was drawn, failed or dropped."""

    def rate_limited(self, platform: Platform) -> None:
        """A platform refused a call with a rate limit (screen.py's one error path)."""


class NullMetrics:
    """Counts nothing: the console, and tests that do not look."""

    def turn_finished(self, platform: Platform, seconds: float) -> None:
        pass

    def failed(self, reason: FailureReason) -> None:
        pass

    def picture_queued(self, waiting: int) -> None:
        pass

    def picture_started(self, waiting: int, waited: float, drawing: int) -> None:
        pass

    def picture_ended(self, waiting: int, drawing: int) -> None:
        pass

    def rate_limited(self, platform: Platform) -> None:
        pass
