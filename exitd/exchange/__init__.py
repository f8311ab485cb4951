"""The exchange side: the port the daemon speaks, the Binance adapter, and the simulator."""
