"""Prometheus text over HTTP, served from the daemon's own event loop.

aiohttp (already the exchange adapter's client) serves `GET /metrics` as a supervised actor:
a scrape runs between two actor steps, so it reads every actor's figures at one moment, with
no thread and no lock (prometheus_client's own server would run a thread reading state the
actors change). A port that cannot be bound is logged and leaves the daemon protecting
positions without metrics.
"""

from __future__ import annotations

import socket

import anyio
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = structlog.get_logger("exitd.metrics")


class MetricsServer:
    """`GET /metrics` at `host`:`port` (port 0: a free one, in `port` once `listening`)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._host = host
        self.port = port
        self._registry = registry
        self.listening = anyio.Event()

    async def run(self, incarnation: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            try:
                sock = socket.create_server((self._host, self.port), family=family)
            except OSError as exc:
                log.error("metrics.listen_failed", host=self._host, port=self.port, error=str(exc))
                return
            await web.SockSite(runner, sock).start()
            self.port = sock.getsockname()[1]
            log.info("metrics.listening", host=self._host, port=self.port)
            self.listening.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()

    async def _scrape(self, request: web.Request) -> web.Response:
        # The format the scraper asks for (OpenMetrics, text 1.0.0), else text 0.0.4, which
        # every Prometheus reads.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self._registry), headers={"Content-Type": content_type})
