"""Secrets never reach a log line, whoever logs them and however."""

from __future__ import annotations

import io
import logging

import pytest

from config.log_setup import RedactSecrets

SECRET = "123456:TEST-token"


def render(record_args: tuple[object, ...], msg: str, *, exc: bool = False) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets([SECRET, "short"]))
    logger = logging.getLogger(f"test.redaction.{len(msg)}.{exc}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        if exc:
            try:
                raise RuntimeError(f"failed at https://api.example/bot{SECRET}/getMe")
            except RuntimeError:
                logger.exception(msg, *record_args)
        else:
            logger.debug(msg, *record_args)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("Set Bot API URL: %s", (f"https://api.telegram.org/bot{SECRET}",)),
        (f"plain {SECRET} in the message", ()),
        ("a real-shaped token %s", ("7312345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1",)),
    ],
)
def test_secrets_are_redacted_from_messages_and_arguments(
    msg: str, args: tuple[object, ...]
) -> None:
    line = render(args, msg)
    assert "<redacted>" in line
    assert SECRET not in line
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1" not in line


def test_secrets_are_redacted_from_tracebacks() -> None:
    text = render((), "request failed", exc=True)
    assert "Traceback" in text
    assert SECRET not in text


def test_an_ordinary_line_is_left_alone() -> None:
    assert render((3,), "handled %d updates").strip() == "handled 3 updates"
