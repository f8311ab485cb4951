"""config.toml's `[metrics]`: where Prometheus text is served, if anywhere.

The schema, the frozen value the metrics server receives, and the rule that keeps metrics on
loopback unless the operator says otherwise: they tell anyone who can read them the account's
positions and activity.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, StrictBool, StrictStr

from exitd.ops._config_schema import ConfigIssue, _Section, validate

_LISTEN = "an IP address and port: 127.0.0.1:9464, or [::1]:9464 for IPv6 (port 0: any free one)"
_LISTEN_FORM = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})")


def listen_address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """`host:port` as an IP address and a port; ValueError says what is allowed."""
    match = _LISTEN_FORM.fullmatch(text)
    if match is None or int(match["port"]) > 65535:
        raise ValueError(_LISTEN)
    try:
        address = ipaddress.ip_address(match["v6"] or match["v4"])
    except ValueError:
        raise ValueError(_LISTEN) from None
    if address.version != (6 if match["v6"] else 4):
        raise ValueError(_LISTEN)
    return address, int(match["port"])


def _listen(text: str) -> str:
    listen_address(text)
    return text


class MetricsModel(_Section):
    listen: Annotated[StrictStr, AfterValidator(_listen)] | None = None
    allow_non_loopback: StrictBool = False


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Prometheus text over HTTP at `host`:`port`; off when `host` is None."""

    host: str | None = None
    port: int = 0


def metrics_settings(value: object, issues: list[ConfigIssue]) -> MetricsSettings | None:
    """`[metrics]` as settings; its issues go to `issues`."""
    checked = validate(MetricsModel, value, "metrics")
    issues += checked.issues
    model = checked.model
    if model is None or model.listen is None:
        return None if model is None else MetricsSettings()
    address, port = listen_address(model.listen)
    if checked.intact("listen", "allow_non_loopback") and not (
        address.is_loopback or model.allow_non_loopback
    ):
        allowed = (
            "a loopback address such as 127.0.0.1:9464 (allow_non_loopback = true to serve "
            "metrics beyond this host)"
        )
        issues.append(ConfigIssue("metrics.listen", model.listen, allowed))
    return MetricsSettings(str(address), port)
