"""A local Binance USD-M futures exchange: matching (pure) and, around it, the server."""

from exitd.exchange.sim.matching import (
    BookOrder,
    OrderClosed,
    OrderState,
    Outcome,
    Refusal,
    SymbolMarket,
    Trade,
)

__all__ = ["BookOrder", "OrderClosed", "OrderState", "Outcome", "Refusal", "SymbolMarket", "Trade"]
