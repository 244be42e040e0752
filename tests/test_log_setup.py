"""Secrets never reach a log line, whoever logs them and however."""

from __future__ import annotations

import io
import json
import logging

import pytest

from config.log_setup import JsonLines, RedactSecrets

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


def test_json_lines_are_one_object_each_with_secrets_redacted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets([SECRET]))
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("test.json.lines")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("calling %s\nnext line", f"https://api.example/bot{SECRET}/getMe")
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING"
    assert first["logger"] == "test.json.lines"
    assert first["message"] == "calling https://api.example/bot<redacted>/getMe\nnext line"
    assert first["time"].endswith("+00:00")
    assert "exception" not in first
    assert second["message"] == "request failed"
    assert "Traceback" in second["exception"]
    assert SECRET not in lines[1]
