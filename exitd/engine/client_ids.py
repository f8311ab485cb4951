"""Client order ids exitd can recognise after a restart (DESIGN.md, "Client order ids").

`xd.<module>.<symbol>.<leg>.<seq>`: within Binance's `^[.A-Z:/a-z0-9_-]{1,36}$`. The sequence is
a per-host counter the daemon persists, so an id is never reused; it is base 36 to stay short.
A symbol with characters outside that set (Binance lists some in Chinese script) keeps the
ones inside it plus a short hash of the whole name, so ids stay valid and distinct.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

from exitd.engine.model import Leg

PREFIX = "xd"
MAX_LENGTH = 36
EXIT_BRAIN_CODE = "eb"
_BINANCE_CHARSET = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_OUTSIDE_CHARSET = re.compile(r"[^A-Za-z0-9_-]")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_LEG_CODES = {
    Leg.HARD_SL: "SL",
    Leg.WORKING_STOP: "WS",
    Leg.TRAILING_STOP: "TR",
    Leg.TIME: "TM",
}
_LEGS_BY_CODE = {code: leg for leg, code in _LEG_CODES.items()}


@dataclass(frozen=True, slots=True)
class ClientOrderRef:
    """What an exitd client id says: who asked, for which symbol and leg, and when."""

    module_code: str
    symbol: str
    leg: Leg | None
    tp_number: int
    seq: int


def _base36(n: int) -> str:
    out = ""
    while True:
        n, digit = divmod(n, 36)
        out = _DIGITS[digit] + out
        if not n:
            return out


def leg_code(leg: Leg, tp_number: int = 0) -> str:
    return f"TP{tp_number}" if leg is Leg.TAKE_PROFIT else _LEG_CODES[leg]


def make_client_order_id(
    module_code: str, symbol: str, leg: Leg, seq: int, tp_number: int = 0
) -> str:
    head = f"{PREFIX}.{module_code}."
    tail = f".{leg_code(leg, tp_number)}.{_base36(seq)}"
    symbol = _id_safe(symbol)
    # A symbol too long for the 36 characters keeps its head; orders are always looked up
    # per symbol, so the id only has to be unique and recognisable.
    room = MAX_LENGTH - len(head) - len(tail)
    if room < 1:
        raise ValueError(f"sequence {seq} leaves no room for a client id")
    return head + symbol[:room] + tail


@lru_cache(maxsize=4096)  # one entry a symbol: every order placed asks for its symbol's form
def _id_safe(symbol: str) -> str:
    """The symbol as an id may carry it: `.` separates the parts, so it goes too."""
    kept = _OUTSIDE_CHARSET.sub("", symbol)
    if kept == symbol and kept:
        return symbol
    return kept + "-" + _base36(zlib.crc32(symbol.encode()))


def parse_client_order_id(client_order_id: str) -> ClientOrderRef | None:
    """The parts of an exitd id, or None for a foreign one."""
    parts = client_order_id.split(".")
    if len(parts) != 5 or parts[0] != PREFIX or not _BINANCE_CHARSET.match(client_order_id):
        return None
    _, module_code, symbol, code, seq_text = parts
    try:
        seq = int(seq_text, 36)
    except ValueError:
        return None
    if code.startswith("TP") and code[2:].isdigit():
        return ClientOrderRef(module_code, symbol, Leg.TAKE_PROFIT, int(code[2:]), seq)
    return ClientOrderRef(module_code, symbol, _LEGS_BY_CODE.get(code), 0, seq)
