"""Prometheus metrics of the real daemon on the simulator, scraped over HTTP and parsed with
prometheus_client's own parser: the figures follow real orders, conflicts, reconnects and
reconciliation, and agree with what the actors counted.

The running example of test_daemon_protects.py: a LONG of 1 BTCUSDT at 40000; HARD_SL 39200,
TP1 40400 (0.3), TP2 40800 (0.3), breakeven at 40320 (stop 40040).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from exitd.actors.legacy import submit_order
from exitd.actors.messages import NotSent
from exitd.engine import OrderSide
from exitd.exchange.port import OrderRequest, Rejected
from exitd.ops.config import parse_config
from exitd.ops.metrics import OrderKind, OrderOutcome
from exitd.ops.prometheus import figures_json
from tests.exchange.sim.server_harness import running
from tests.integration.harness import ENVIRON, WAIT_S, Live, config_text, daemon_running
from tests.integration.test_faults import price_seen, set_faults

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def metrics_daemon(
    tmp_path: Path, listen: str = "127.0.0.1:0", *, listening: bool = True, guard: str = "soft"
) -> AsyncIterator[Live]:
    """live_daemon's daemon with `[metrics] listen` set, listening once the block starts
    unless `listening` is False."""
    async with running() as (sim, client):
        text = config_text(sim, guard=guard) + f'\n[metrics]\nlisten = "{listen}"\n'
        config = parse_config(text, "test.toml", ENVIRON, base_dir=tmp_path)
        async with daemon_running(config) as daemon:
            assert daemon.metrics is not None
            if listening:
                with anyio.fail_after(WAIT_S):
                    await daemon.metrics.listening.wait()
            yield Live(sim, client, daemon, tmp_path / "state")


async def scrape(live: Live) -> tuple[str, Samples]:
    """GET /metrics: the content type and every sample, by name and labels."""
    assert live.daemon.metrics is not None
    url = f"http://127.0.0.1:{live.daemon.metrics.port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return content_type, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def legacy_stop(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        SYMBOL,
        client_order_id,
        OrderSide.SELL,
        "STOP_MARKET",
        trigger_price=D("39000"),
        close_position=True,
    )


async def test_scraped_counters_follow_real_orders_conflicts_and_latencies(
    tmp_path: Path,
) -> None:
    async with metrics_daemon(tmp_path) as live:
        content_type, before = await scrape(live)
        assert content_type.startswith("text/plain; version=0.0.4")
        assert value(before, "exitd_positions") == 0
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        await live.price(SYMBOL, "40350")  # breakeven arms on this tick: the stop moves
        await live.settle(SYMBOL)
        answer = await submit_order(
            live.daemon.gateway.mailbox, "position_monitor", OrderKind.SL, legacy_stop("pm-sl-1")
        )
        # Guard soft: sent, and counted as a conflict; the exchange refuses it, as the
        # HARD_SL's close-position stop rests already.
        assert isinstance(answer.outcome, Rejected)
        stranger = await submit_order(
            live.daemon.gateway.mailbox, "made_up_module", OrderKind.SL, legacy_stop("mu-sl-1")
        )
        assert isinstance(stranger.outcome, NotSent)

        _, after = await scrape(live)
        counts = live.daemon.gateway.metrics
        brain_sl = value(
            after, "exitd_orders_total", module="exit_brain_v3", kind="sl", outcome="accepted"
        )
        assert brain_sl >= 1
        assert brain_sl == counts.count("exit_brain_v3", OrderKind.SL, OrderOutcome.ACCEPTED)
        accepted_tp = value(
            after,
            "exitd_orders_total",
            module="exit_brain_v3",
            kind="partial_tp",
            outcome="accepted",
        )
        assert accepted_tp == counts.count(
            "exit_brain_v3", OrderKind.PARTIAL_TP, OrderOutcome.ACCEPTED
        )
        assert accepted_tp == 2
        assert value(after, "exitd_ownership_conflicts_total", module="position_monitor") == 1
        # A module nobody configured never becomes a label of its own.
        assert (
            value(after, "exitd_orders_total", module="foreign", kind="sl", outcome="refused") == 1
        )
        assert not any(("module", "made_up_module") in labels for _, labels in after)
        assert value(after, "exitd_refusals_total", code="unknown_module") == 1
        assert value(after, "exitd_refusals_total", code="close_position_exists") == 1
        assert (
            value(
                after,
                "exitd_orders_total",
                module="position_monitor",
                kind="sl",
                outcome="rejected",
            )
            == 1
        )
        scraped_orders = sum(v for (n, _), v in after.items() if n == "exitd_orders_total")
        assert scraped_orders == counts.total_orders

        assert value(after, "exitd_positions") == 1
        assert value(after, "exitd_conditional_order_slots_used") == len(
            live.sim.account.open_algo_orders(SYMBOL)
        )
        assert value(after, "exitd_naked_positions") == 0
        round_trips = value(after, "exitd_gateway_latency_seconds_count")
        assert round_trips >= counts.count(outcome=OrderOutcome.ACCEPTED)
        assert value(after, "exitd_gateway_latency_seconds_bucket", le="+Inf") == round_trips
        assert value(after, "exitd_gateway_latency_seconds_sum") > 0
        assert value(after, "exitd_tick_to_request_seconds_count") >= 1
        assert value(before, "exitd_tick_to_request_seconds_count") == 0
        assert 0 <= value(after, "exitd_rate_budget_use_ratio") < 0.8


async def test_reconnects_and_missed_fills_show_as_counted_by_the_actors(tmp_path: Path) -> None:
    async with metrics_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        _, before = await scrape(live)
        assert value(before, "exitd_stream_reconnects_total", stream="market") == 0
        assert value(before, "exitd_stream_reconnects_total", stream="user") == 0

        # The key lapses and no socket is let in for a second: TP1 fills unseen in that gap,
        # and both streams come back on new sockets.
        await set_faults(live, {"expire_listen_key": True, "refuse_websockets_s": 1})
        await live.price(SYMBOL, "40400")
        await live.settle(SYMBOL)
        await set_faults(live, {"drop_websockets": True})
        await price_seen(live, SYMBOL, "40390")
        await live.settle(SYMBOL)

        _, after = await scrape(live)
        account, feed = live.daemon.account, live.daemon.price_feed
        assert value(after, "exitd_stream_reconnects_total", stream="user") >= 1
        assert value(after, "exitd_stream_reconnects_total", stream="user") == (
            account.user_stream_connections - 1
        )
        assert value(after, "exitd_stream_reconnects_total", stream="market") >= 1
        assert value(after, "exitd_stream_reconnects_total", stream="market") == (
            feed.connections - 1
        )
        missed = value(after, "exitd_reconcile_corrections_total", correction="missed_fill")
        assert missed >= 1
        assert missed == account.corrections().missed_fills


async def test_the_json_figures_are_the_scraped_samples(tmp_path: Path) -> None:
    async with metrics_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        _, scraped = await scrape(live)
        data = figures_json(live.daemon)
    from_json = {
        (s["name"], frozenset(s["labels"].items())): s["value"]
        for family in data.values()
        for s in family["samples"]  # type: ignore[index]
    }
    assert from_json == scraped
    assert data["exitd_orders"]["type"] == "counter"  # type: ignore[index]


async def test_refusals_are_counted_by_code_in_hard_guard(tmp_path: Path) -> None:
    async with metrics_daemon(tmp_path, guard="hard") as live:
        mailbox = live.daemon.gateway.mailbox
        refused = await submit_order(mailbox, "position_monitor", OrderKind.SL, legacy_stop("a"))
        assert isinstance(refused.outcome, NotSent)
        opening = replace(legacy_stop("b"), close_position=False, quantity=D("1"))
        invalid = await submit_order(mailbox, "position_monitor", OrderKind.SL, opening)
        assert isinstance(invalid.outcome, NotSent)
        _, after = await scrape(live)
    assert value(after, "exitd_refusals_total", code="hard_guard") == 1
    assert value(after, "exitd_refusals_total", code="invalid") == 1
    assert value(after, "exitd_ownership_conflicts_total", module="position_monitor") == 1
    assert (
        value(after, "exitd_orders_total", module="position_monitor", kind="sl", outcome="refused")
        == 2
    )


async def test_metrics_are_off_unless_configured(tmp_path: Path) -> None:
    async with running() as (sim, _):
        config = parse_config(config_text(sim), "test.toml", ENVIRON, base_dir=tmp_path)
        async with daemon_running(config) as daemon:
            assert daemon.metrics is None
            assert "metrics" not in daemon.supervisor


async def test_a_port_in_use_is_logged_and_the_daemon_protects_on(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with capture_logs() as logs:
            listen = f"127.0.0.1:{port}"
            async with metrics_daemon(tmp_path, listen, listening=False) as live:
                await live.price(SYMBOL, "40000")
                await live.open(SYMBOL, "LONG", "1", "40000")
                await live.settle(SYMBOL)
                assert live.resting(SYMBOL)  # the stops rest all the same
                assert "metrics" not in live.daemon.supervisor  # it stopped, not crash-looped
    failed = [e for e in logs if e["event"] == "metrics.listen_failed"]
    assert len(failed) == 1
    assert failed[0]["port"] == port
    assert live.daemon.metrics is not None
    assert not live.daemon.metrics.listening.is_set()
