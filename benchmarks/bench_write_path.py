"""One order write's client side: aiohttp's request against our warm keep-alive connections.

A small aiohttp server in a child process answers every request with a fixed order JSON. This
process sends `--requests` sequential signed-size requests each way, on one warm connection,
and reports per request: the event loop thread's CPU time (everything the client does: build,
write, read, parse), the round trip (call to answer read), and for the warm connections the
time `request()` takes to return, by when the bytes are written.

    python benchmarks/bench_write_path.py [--requests 2000] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
from typing import Any

ANSWER = (
    b'{"algoId":1,"clientAlgoId":"xd-1","algoType":"CONDITIONAL","orderType":"STOP_MARKET",'
    b'"symbol":"BTCUSDT","side":"SELL","algoStatus":"NEW","triggerPrice":"58000",'
    b'"quantity":"0.010","reduceOnly":true,"updateTime":1}'
)
QUERY = "&".join(f"p{n}=v{n}" for n in range(12))
TARGET = f"/fapi/v1/algoOrder?{QUERY}&signature={'a' * 64}"


def _serve(port_pipe: Any) -> None:
    from aiohttp import web  # noqa: PLC0415

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=ANSWER, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_pipe.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def _aiohttp(url: str, n: int) -> tuple[float, list[float], list[float]]:
    import aiohttp  # noqa: PLC0415

    trips: list[float] = []
    async with aiohttp.ClientSession() as session:
        async with session.post(url + TARGET) as response:
            await response.read()  # warm
        cpu0 = time.thread_time()
        for _ in range(n):
            t0 = time.perf_counter()
            async with session.post(url + TARGET, headers={"X-MBX-APIKEY": "k" * 64}) as r:
                await r.read()
            trips.append(time.perf_counter() - t0)
        return (time.thread_time() - cpu0) / n, trips, []


async def _warm(url: str, n: int) -> tuple[float, list[float], list[float]]:
    from exitd.exchange.binance.warm_http import WarmConnections  # noqa: PLC0415

    pool = WarmConnections(url)
    trips: list[float] = []
    sent: list[float] = []
    try:
        await pool.warm()
        cpu0 = time.thread_time()
        for _ in range(n):
            t0 = time.perf_counter()
            pending = pool.request("POST", TARGET, {"X-MBX-APIKEY": "k" * 64})
            sent.append(time.perf_counter() - t0)
            await pending
            trips.append(time.perf_counter() - t0)
        return (time.thread_time() - cpu0) / n, trips, sent
    finally:
        await pool.aclose()


def _pct(values: list[float]) -> str:
    values = sorted(values)
    p50, p99 = statistics.median(values), values[int(len(values) * 0.99)]
    return f"p50 {p50 * 1e6:6.1f} us, p99 {p99 * 1e6:6.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--uvloop", action="store_true", help="the loop `exitd run` uses")
    args = parser.parse_args()
    n = args.requests
    if args.uvloop:
        import uvloop  # noqa: PLC0415

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    receive, send = mp.Pipe(duplex=False)
    server = mp.Process(target=_serve, args=(send,), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{receive.recv()}"
        for name, run in (("aiohttp", _aiohttp), ("warm", _warm)):
            cpu, trips, sent = asyncio.run(run(url, n))
            line = f"{name:8} CPU {cpu * 1e6:6.1f} us/request; round trip {_pct(trips)}"
            print(line + (f"; bytes written by {_pct(sent)}" if sent else ""))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
