"""exitd: the exit manager for Binance USD-M futures positions."""

__version__ = "0.1.0"
