"""Test certificates from trustme: a CA of our own, server contexts with certificates it (or
a stranger CA) issued for the names a test chooses, and client contexts that trust it, with
verification and the host-name check left as the system's default context has them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

import trustme

LOOPBACK = ("127.0.0.1", "localhost")


@dataclass
class Served:
    """A server's context and the SNI names its clients sent (None: no SNI, as for an IP)."""

    context: ssl.SSLContext
    sni: list[str | None] = field(default_factory=list)


def server_context(ca: trustme.CA, *names: str) -> Served:
    """A server presenting a certificate from `ca` for `names` (the loopback ones if none)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or LOOPBACK)).configure_cert(context)
    served = Served(context)

    def record(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        served.sni.append(name)

    context.sni_callback = record
    return served


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """The system's default client context, trusting `ca` as well."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    return context
