"""The Binance USD-M adapter behind the exchange port (exitd/exchange/port.py)."""

from exitd.exchange.binance.adapter import BinanceExchange, order_params
from exitd.exchange.binance.market_stream import BinanceMarketStream
from exitd.exchange.binance.urls import endpoints

__all__ = ["BinanceExchange", "BinanceMarketStream", "endpoints", "order_params"]
