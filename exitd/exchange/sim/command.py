"""`exitd sim`: the simulator on its own, for any Binance client to trade against.

It prints what a client needs (REST and websocket base URLs, the API key and secret it
accepts; a random pair unless given) and serves until SIGINT or SIGTERM, then stops cleanly
with exit code 0. The price source runs beside the server in one task group, so a failing
source ends the command instead of leaving a server with frozen prices.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
from typing import TextIO

import anyio

from exitd.exchange.sim.prices import FileReplay, NoPrices, PriceSource, RandomWalk, infer_symbol
from exitd.exchange.sim.server import DEFAULT_SYMBOLS, SimExchange
from exitd.exchange.sim.symbol_data import MAX_SYNTHETIC, recorded_entries
from exitd.exchange.sim.symbols import SYMBOLS
from exitd.numbers import NumberError, parse_decimal, parse_int
from exitd.price_files import PriceFileError, open_price_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (0: a free one)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--prices", metavar="FILE", help="replay this price file")
    source.add_argument("--walk", type=int, metavar="SEED", help="a seeded random walk")
    parser.add_argument(
        "--marks",
        metavar="FILE",
        help="with --prices: a mark price file replayed beside it (default: the mark is the "
        "last trade, pushed every second as Binance does)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="replay speed: × real time, 0 = as fast as possible",
    )
    parser.add_argument(
        "--symbols",
        default=",".join(DEFAULT_SYMBOLS),
        help="comma-separated symbols to list, or 'all': every symbol of the recorded listing",
    )
    parser.add_argument(
        "--synthetic-symbols",
        type=int,
        default=0,
        metavar="N",
        help="also list N synthetic symbols SYN0001USDT… (plausible filters, for scale tests)",
    )
    parser.add_argument("--api-key", help="the API key to accept (default: generated)")
    parser.add_argument("--api-secret", help="its secret (default: generated)")


def _port(text: str) -> int:
    try:
        return parse_int(text, 0, 65535)
    except NumberError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _speed(text: str) -> float:
    """A finite speed (NaN or infinity would stall or spin the replay); its sign is judged
    with the price source."""
    try:
        return float(parse_decimal(text))
    except NumberError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _symbols(text: str, synthetic: int) -> list[str]:
    if text.strip().lower() == "all":
        names = [entry["symbol"] for entry in recorded_entries()]
    else:
        names = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SYMBOLS]
    if unknown or not names:
        listed = ", ".join(SYMBOLS)
        raise ValueError(
            f"--symbols: unknown {unknown or 'none given'}; the simulator lists {listed}"
        )
    if not 0 <= synthetic <= MAX_SYNTHETIC:
        raise ValueError(f"--synthetic-symbols: 0 to {MAX_SYNTHETIC}, got {synthetic}")
    return names


def _source(args: argparse.Namespace, symbols: list[str]) -> PriceSource:
    if args.prices:
        if args.speed < 0:
            raise ValueError("--speed must be 0 (as fast as possible) or positive")
        open_price_file(args.prices)  # refuse an unreadable file before serving
        if args.marks:
            open_price_file(args.marks)
        symbol = infer_symbol(args.prices, symbols)
        return FileReplay(args.prices, symbol, args.speed, marks=args.marks)
    if args.marks:
        raise ValueError("--marks needs --prices (the trades beside the marks)")
    if args.walk is not None:
        return RandomWalk(args.walk)
    return NoPrices()


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Exit 0 after a signal; 2 on bad arguments (said on `err`)."""
    try:
        symbols = _symbols(args.symbols, args.synthetic_symbols)
        source = _source(args, symbols)
    except (ValueError, PriceFileError) as e:
        print(f"exitd sim: {e}", file=err)
        return 2
    api_key = args.api_key or secrets.token_hex(32)
    api_secret = args.api_secret or secrets.token_hex(32)
    exchange = SimExchange(
        api_key=api_key,
        api_secret=api_secret,
        symbols=symbols,
        port=args.port,
        synthetic_symbols=args.synthetic_symbols,
    )
    try:
        anyio.run(_serve, exchange, source, out)
    except OSError as e:
        print(f"exitd sim: cannot serve on port {args.port}: {e}", file=err)
        return 2
    return 0


async def _serve(exchange: SimExchange, source: PriceSource, out: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await exchange.start()
    try:
        print(f"REST       {exchange.rest_url}", file=out)
        print(f"WEBSOCKET  {exchange.ws_url}", file=out)
        print(f"API KEY    {exchange.api_key}", file=out)
        print(f"API SECRET {exchange.secrets[exchange.api_key]}", file=out, flush=True)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(source.run, exchange)
            await stop.wait()
            tasks.cancel_scope.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await exchange.stop()
