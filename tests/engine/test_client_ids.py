"""Client order ids: recognisable after a restart, unique, within Binance's charset and length."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitd.engine import Leg, make_client_order_id, parse_client_order_id

BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def test_id_says_prefix_module_symbol_leg_and_sequence():
    assert make_client_order_id("eb", "BTCUSDT", Leg.HARD_SL, 1) == "xd.eb.BTCUSDT.SL.1"
    assert make_client_order_id("eb", "BTCUSDT", Leg.WORKING_STOP, 2) == "xd.eb.BTCUSDT.WS.2"
    assert make_client_order_id("eb", "BTCUSDT", Leg.TRAILING_STOP, 3) == "xd.eb.BTCUSDT.TR.3"
    assert make_client_order_id("eb", "BTCUSDT", Leg.TIME, 4) == "xd.eb.BTCUSDT.TM.4"
    assert make_client_order_id("eb", "BTCUSDT", Leg.TAKE_PROFIT, 5, 2) == "xd.eb.BTCUSDT.TP2.5"


def test_sequence_is_written_in_base36():
    assert make_client_order_id("eb", "ETHUSDT", Leg.HARD_SL, 35).endswith(".SL.z")
    assert make_client_order_id("eb", "ETHUSDT", Leg.HARD_SL, 36).endswith(".SL.10")
    assert make_client_order_id("eb", "ETHUSDT", Leg.HARD_SL, 0).endswith(".SL.0")


@pytest.mark.parametrize(
    ("leg", "tp_number"),
    [(Leg.HARD_SL, 0), (Leg.WORKING_STOP, 0), (Leg.TRAILING_STOP, 0), (Leg.TIME, 0)]
    + [(Leg.TAKE_PROFIT, n) for n in (1, 2, 9, 12)],
)
def test_an_id_is_recognised_after_a_restart(leg, tp_number):
    cid = make_client_order_id("eb", "1000PEPEUSDT", leg, 123_456, tp_number)
    ref = parse_client_order_id(cid)
    assert ref is not None
    assert (ref.module_code, ref.symbol, ref.leg, ref.tp_number, ref.seq) == (
        "eb",
        "1000PEPEUSDT",
        leg,
        tp_number,
        123_456,
    )


@pytest.mark.parametrize(
    "foreign",
    [
        "web_abc123",
        "ios_1234567890",
        "xd.eb.BTCUSDT.SL",  # too few parts
        "xd.eb.BTCUSDT.SL.1.2",  # too many
        "zz.eb.BTCUSDT.SL.1",  # another prefix
        "xd.eb.BTCUSDT.SL.!",  # not base36
        "xd.eb.BTCUSDT.SL." + "1" * 40,  # too long for Binance
    ],
)
def test_foreign_ids_are_not_taken_for_exitd_ones(foreign):
    assert parse_client_order_id(foreign) is None


def test_unknown_leg_code_parses_with_no_leg():
    ref = parse_client_order_id("xd.eb.BTCUSDT.ZZ.1")
    assert ref is not None
    assert ref.leg is None


def test_long_symbol_is_cut_to_keep_the_id_within_36_characters():
    symbol = "VERYLONGSYMBOLNAMEFORTESTINGUSDT"  # 32 characters
    cid = make_client_order_id("eb", symbol, Leg.TAKE_PROFIT, 36**4, 3)
    assert len(cid) == 36
    assert BINANCE_CLIENT_ID.match(cid)
    ref = parse_client_order_id(cid)
    assert ref is not None
    assert symbol.startswith(ref.symbol)
    assert (ref.leg, ref.tp_number, ref.seq) == (Leg.TAKE_PROFIT, 3, 36**4)


def test_a_sequence_that_leaves_no_room_for_the_symbol_is_refused():
    with pytest.raises(ValueError, match="no room"):
        make_client_order_id("eb", "BTCUSDT", Leg.HARD_SL, 36**25)


_symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=3, max_size=30)
_legs = st.sampled_from([Leg.HARD_SL, Leg.WORKING_STOP, Leg.TRAILING_STOP, Leg.TIME])


@given(symbol=_symbols, leg=_legs, seq=st.integers(0, 36**8), tp=st.integers(1, 20))
def test_ids_always_fit_binance_and_parse_back(symbol, leg, seq, tp):
    for cid, want_leg, want_tp in (
        (make_client_order_id("eb", symbol, leg, seq), leg, 0),
        (make_client_order_id("eb", symbol, Leg.TAKE_PROFIT, seq, tp), Leg.TAKE_PROFIT, tp),
    ):
        assert BINANCE_CLIENT_ID.match(cid), cid
        ref = parse_client_order_id(cid)
        assert ref is not None
        assert (ref.leg, ref.tp_number, ref.seq) == (want_leg, want_tp, seq)


@given(symbol=_symbols, seqs=st.lists(st.integers(0, 36**6), min_size=2, max_size=20, unique=True))
def test_distinct_sequences_never_share_an_id(symbol, seqs):
    ids = {make_client_order_id("eb", symbol, Leg.WORKING_STOP, s) for s in seqs}
    assert len(ids) == len(seqs)


@pytest.mark.parametrize("symbol", ["我踏马来了USDT", "币安人生USDT"])
def test_symbol_outside_the_id_charset_still_gives_a_valid_recognisable_id(symbol):
    cid = make_client_order_id("eb", symbol, Leg.HARD_SL, 7)
    assert BINANCE_CLIENT_ID.match(cid)
    ref = parse_client_order_id(cid)
    assert ref is not None
    assert (ref.leg, ref.seq) == (Leg.HARD_SL, 7)
