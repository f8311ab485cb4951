"""Log lines: JSON off a terminal, coloured key-value on one, and no secret in either, at any
depth of a value, in an exception's text or a signed URL."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import orjson
import pytest
import structlog

from exitd.ops import logs
from exitd.ops.logs import MASK, configure_logging, remember_secret, scrub

SECRET = "Zq3-not-a-real-secret-but-long-enough"
SIGNATURE = "9f" * 32
LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    yield
    structlog.configure(**saved)
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook = hook
    logging.captureWarnings(False)


def logged(
    monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, log_format: str = "auto"
) -> io.StringIO:
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging("debug", log_format)
    remember_secret(SECRET)
    log = structlog.get_logger("exitd.test")
    log.info(
        "exchange.request",
        url=f"https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&signature={SIGNATURE}",
        request={"headers": {"X-MBX-APIKEY": "k" * 64}, "params": [("listenKey", LISTEN_KEY)]},
        api_secret=SECRET,
        note=f"the secret {SECRET} quoted",
    )
    try:
        raise RuntimeError(f"GET /private/ws?listenKey={LISTEN_KEY} failed: {SECRET}")
    except RuntimeError:
        log.exception("exchange.failed")
    logging.getLogger("aiohttp.client").debug("signature=%s", SIGNATURE)
    return stream


@pytest.mark.usefixtures("restore_logging")
def test_off_a_terminal_lines_are_json_and_hold_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    text = logged(monkeypatch, io.StringIO()).getvalue()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert [line["event"] for line in lines[:2]] == ["exchange.request", "exchange.failed"]
    assert lines[2]["logger"] == "aiohttp.client"
    for secret in (SECRET, SIGNATURE, LISTEN_KEY, "k" * 64):
        assert secret not in text
    assert lines[0]["api_secret"] == MASK
    assert lines[0]["request"]["headers"]["X-MBX-APIKEY"] == MASK
    assert lines[0]["url"].endswith(f"signature={MASK}")
    [error] = lines[1]["exception"]
    assert error["exc_type"] == "RuntimeError"
    assert all("locals" not in frame for frame in error["frames"])


@pytest.mark.usefixtures("restore_logging")
def test_on_a_terminal_lines_are_coloured_key_values_and_hold_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = logged(monkeypatch, Terminal()).getvalue()
    assert "\x1b[" in text  # ANSI colours
    assert "exchange.request" in text and "Traceback (most recent call last)" in text
    assert not text.lstrip().startswith("{")
    for secret in (SECRET, SIGNATURE, LISTEN_KEY, "k" * 64):
        assert secret not in text


@pytest.mark.usefixtures("restore_logging")
def test_console_chosen_off_a_terminal_has_no_colour_codes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = logged(monkeypatch, io.StringIO(), "console").getvalue()
    assert "exchange.request" in text
    assert "\x1b[" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a?x=1&signature=abc&y=2", "a?x=1&signature=***&y=2"),
        ("{'X-MBX-APIKEY': 'abc'}", "{'X-MBX-APIKEY': '***'}"),
        ('{"listenKey":"abc"}', '{"listenKey":"***"}'),
        ("api_secret = abc", "api_secret = ***"),
        ("wss://fstream.binance.com/ws/" + LISTEN_KEY, "wss://fstream.binance.com/ws/***"),
        (
            "order 123456789 of xd.eb.BTCUSDT.SL.47sv7k9",
            "order 123456789 of xd.eb.BTCUSDT.SL.47sv7k9",
        ),
    ],
)
def test_scrub_masks_secrets_in_text_and_leaves_the_rest(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_every_secret_name_holds_a_stem_scrub_looks_for() -> None:
    """scrub skips the pair pattern on texts without a stem: a new name must hold one."""
    for name in logs._SECRET_NAMES:
        assert any(stem in name for stem in logs._SECRET_STEMS), name
