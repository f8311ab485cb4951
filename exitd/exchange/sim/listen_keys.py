"""The user-data stream key of the simulator's single account (binance-usdm.md §9.1)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from exitd.exchange.sim import errors

LISTEN_KEY_VALIDITY_MS = 60 * 60 * 1000
_KEY_ALPHABET = string.ascii_letters + string.digits


class ListenKeys:
    """The user-data stream key of the single account (§9.1): one active key at a time,
    valid 60 min from its creation or last keepalive."""

    def __init__(self, clock: Callable[[], int], on_end: Callable[[str, bool], None]) -> None:
        self._clock = clock
        self._on_end = on_end  # (key, expired): the hub stops its streams
        self._key: str | None = None
        self._expires_ms = 0

    def create(self, api_key: str) -> str:
        """The same key again while one is active, extended 60 min (§9.1)."""
        del api_key  # one account: every accepted API key owns the same stream
        self.expire_overdue()
        if self._key is None:
            self._key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(64))
        self._expires_ms = self._clock() + LISTEN_KEY_VALIDITY_MS
        return self._key

    def keepalive(self, key: str) -> None:
        if not self.valid(key):
            raise errors.INVALID_LISTEN_KEY.error()
        self._expires_ms = self._clock() + LISTEN_KEY_VALIDITY_MS

    def delete(self, key: str) -> None:
        """Binance answers `{}` whatever the key; a valid one stops its streams silently."""
        if self.valid(key):
            self._key = None
            self._on_end(key, False)

    def valid(self, key: str) -> bool:
        self.expire_overdue()
        return key == self._key

    @property
    def active(self) -> str | None:
        self.expire_overdue()
        return self._key

    def expire(self) -> None:
        """Fault: the key lapses now (its streams get listenKeyExpired)."""
        if self._key is not None:
            key, self._key = self._key, None
            self._on_end(key, True)

    def expire_overdue(self) -> None:
        if self._key is not None and self._clock() >= self._expires_ms:
            self.expire()
