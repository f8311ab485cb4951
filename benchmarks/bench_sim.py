"""Signed order requests per second the simulator accepts, on loopback, on one core.

The simulator runs in a child process pinned to core 0, with high rate limits (the real ones
would answer 429 after 300 orders in 10 s), a random walk moving BTCUSDT every 10 ms, and one
websocket client reading the mark price and the account's user-data stream. This process,
pinned to core 1, sends signed POST /fapi/v1/order requests from CONCURRENCY keep-alive
connections for DURATION seconds, in two workloads:

- ioc:    LIMIT IOC orders far below the market: authenticated, validated, matched, expired;
- market: MARKET orders alternating BUY and SELL: each fills, moves the position and sends
          ORDER_TRADE_UPDATE and ACCOUNT_UPDATE to the user-data stream.

    python benchmarks/bench_sim.py [--duration 5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import multiprocessing as mp
import os
import time
from decimal import Decimal
from urllib.parse import urlencode

import aiohttp

from exitd.exchange.sim.limits import RateLimits
from exitd.exchange.sim.prices import RandomWalk
from exitd.exchange.sim.server import SimExchange

API_KEY = "bench-key"
API_SECRET = "bench-secret"
UNLIMITED = RateLimits(weight_per_minute=10**9, orders_per_10s=10**9, orders_per_minute=10**9)


def _serve(port_queue: mp.Queue[int], stop: mp.Event) -> None:  # type: ignore[type-arg]
    os.sched_setaffinity(0, {0})

    async def main() -> None:
        exchange = SimExchange(api_key=API_KEY, api_secret=API_SECRET, limits=UNLIMITED)
        await exchange.start()
        exchange.push_price("BTCUSDT", Decimal("65000.0"), exchange.clock())
        walk = asyncio.create_task(RandomWalk(seed=1, interval_ms=10).run(exchange))
        port_queue.put(exchange.port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        walk.cancel()
        await exchange.stop()

    asyncio.run(main())


def _signed(params: dict[str, str]) -> str:
    params["timestamp"] = str(time.time_ns() // 1_000_000)
    query = urlencode(params)
    signature = hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def _listen(base: str, received: list[int], ready: asyncio.Event) -> None:
    """A client on the market and user-data streams, as the daemon will be; its own session,
    so the order workers' connection pool cannot starve it."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY}
        ) as answer:
            key = (await answer.json())["listenKey"]
        ws_base = base.replace("http", "ws")
        async with (
            session.ws_connect(f"{ws_base}/market/stream?streams=btcusdt@markPrice@1s") as market,
            session.ws_connect(f"{ws_base}/private/ws?listenKey={key}") as private,
        ):
            ready.set()
            await _drain(market, private, received)


async def _drain(
    market: aiohttp.ClientWebSocketResponse,
    private: aiohttp.ClientWebSocketResponse,
    received: list[int],
) -> None:
    async def count(ws: aiohttp.ClientWebSocketResponse, slot: int) -> None:
        async for _ in ws:
            received[slot] += 1

    await asyncio.gather(count(market, 0), count(private, 1))


async def _load(base: str, workload: str, duration: float, concurrency: int) -> tuple[int, int]:
    sides = itertools.cycle(("BUY", "SELL"))
    done = errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        received = [0, 0]
        ready = asyncio.Event()
        listener = asyncio.create_task(_listen(base, received, ready))
        await asyncio.wait_for(ready.wait(), 10)
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                if workload == "ioc":
                    params = {
                        "symbol": "BTCUSDT",
                        "side": "BUY",
                        "type": "LIMIT",
                        "timeInForce": "IOC",
                        "quantity": "0.002",
                        "price": "50000.0",
                    }
                else:
                    params = {
                        "symbol": "BTCUSDT",
                        "side": next(sides),
                        "type": "MARKET",
                        "quantity": "0.002",
                    }
                url = f"{base}/fapi/v1/order?{_signed(params)}"
                async with session.post(url, headers={"X-MBX-APIKEY": API_KEY}) as answer:
                    await answer.read()
                    if answer.status == 200:
                        done += 1
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        listener.cancel()
        if not (received[0] and (workload == "ioc" or received[1])):
            raise RuntimeError(f"the stream client received nothing: {received}")
    return done, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    port_queue: mp.Queue[int] = ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(port_queue, stop))
    server.start()
    try:
        os.sched_setaffinity(0, {1})
        base = f"http://127.0.0.1:{port_queue.get(timeout=30)}"
        print(
            f"simulator on core 0, client on core 1; {args.concurrency} connections, "
            f"{args.duration:g} s per workload, random walk every 10 ms"
        )
        for workload in ("ioc", "market"):
            done, errors = asyncio.run(_load(base, workload, args.duration, args.concurrency))
            print(
                f"{workload:<7} {done / args.duration:>8,.0f} accepted orders/s  "
                f"({done} accepted, {errors} refused)"
            )
    finally:
        stop.set()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
