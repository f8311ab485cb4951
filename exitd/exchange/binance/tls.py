"""The TLS context our own transports (warm_http, ws_connection) verify the exchange with."""

from __future__ import annotations

import ssl


def tls_context(secure: bool, given: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """`given` (a test's context, trusting its own CA) or the system's trust store, both
    verifying the certificate and the host name; None for a plain scheme, which refuses a
    context rather than send in plain text what its owner meant to encrypt."""
    if not secure:
        if given is not None:
            raise ValueError("an SSL context for a plain http or ws URL")
        return None
    return given if given is not None else ssl.create_default_context()


__all__ = ["tls_context"]
