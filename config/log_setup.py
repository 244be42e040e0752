"""How the process logs: one format, quiet HTTP libraries, and no secret in any line.

The redaction is a filter on every handler of the root logger, so it sees the records of
python-telegram-bot, discord.py, httpx and our own code alike, at every level: the
libraries log their API URLs, and a Telegram URL carries the bot token (".../bot<TOKEN>/").
With LOG_FORMAT=json each line is one JSON object, built from the record after that filter.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

REDACTED = "<redacted>"
# A Telegram bot token anywhere, also inside URLs that were not configured by us.
_TELEGRAM_TOKEN = re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}\b")


class RedactSecrets(logging.Filter):
    """Replaces the given secrets (and anything shaped like a Telegram token) in records."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TELEGRAM_TOKEN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message and, after
    an exception, its traceback as one string (so a line never breaks)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str, secrets: Iterable[str], *, quiet: bool = False, form: LogFormat = "text"
) -> None:
    """Log to stderr at `level` with every secret redacted; `quiet` keeps only warnings;
    `form` "json" writes one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLines()
        if form == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet and level == "INFO" else level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
