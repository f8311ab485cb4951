"""`[metrics]` in config.toml: off unless set, loopback only unless allowed, clear issues."""

from __future__ import annotations

import pytest

from exitd.ops.config import ConfigError, MetricsSettings, parse_config
from exitd.ops.latency import BOUNDS_S, LatencyHistogram


def metrics(text: str) -> MetricsSettings:
    return parse_config(f"[metrics]\n{text}\n", "config.toml", {}).metrics


def issues(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        metrics(text)
    return [(issue.key, issue.allowed) for issue in caught.value.issues]


def test_metrics_are_off_unless_listen_is_set() -> None:
    assert parse_config("", "config.toml", {}).metrics == MetricsSettings(None)
    assert metrics("") == MetricsSettings(None)


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:9464", "127.0.0.1", 9464),
        ("127.0.0.2:0", "127.0.0.2", 0),
        ("[::1]:9464", "::1", 9464),
    ],
)
def test_a_loopback_address_is_taken(listen: str, host: str, port: int) -> None:
    assert metrics(f'listen = "{listen}"') == MetricsSettings(host, port)


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "192.168.1.5:9464", "[::]:9464"])
def test_a_non_loopback_address_is_refused_unless_allowed(listen: str) -> None:
    [(key, allowed)] = issues(f'listen = "{listen}"')
    assert key == "metrics.listen"
    assert "loopback" in allowed and "allow_non_loopback" in allowed
    allowed_one = metrics(f'listen = "{listen}"\nallow_non_loopback = true')
    assert allowed_one.host == listen.rpartition(":")[0].strip("[]")


@pytest.mark.parametrize(
    "listen",
    ["localhost:9464", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:-1", "::1:9464", "[127.0.0.1]:1",
     "999.0.0.1:9464", "127.0.0.1:９４６４", ""],
)  # fmt: skip
def test_a_malformed_listen_says_what_is_allowed(listen: str) -> None:
    [(key, allowed)] = issues(f'listen = "{listen}"')
    assert key == "metrics.listen"
    assert "an IP address and port" in allowed


def test_unknown_keys_and_wrong_types_are_issues() -> None:
    found = issues('listen = 9464\nallow_non_loopback = "yes"\nport = 1')
    assert sorted(key for key, _ in found) == [
        "metrics.allow_non_loopback",
        "metrics.listen",
        "metrics.port",
    ]


def test_an_observation_lands_in_the_first_bucket_at_or_above_it() -> None:
    histogram = LatencyHistogram()
    for seconds in (BOUNDS_S[0], BOUNDS_S[0] * 1.01, BOUNDS_S[-1] * 2, -0.001):
        histogram.observe(seconds)
    snapshot = histogram.snapshot()
    assert snapshot.count == 4
    assert snapshot.cumulative[0] == 2  # the bound itself and the clamped negative
    assert snapshot.cumulative[1] == 3
    assert snapshot.cumulative[-2] == 3  # the slowest is above every bound: +Inf only
    assert snapshot.sum_s == pytest.approx(BOUNDS_S[0] * 2.01 + BOUNDS_S[-1] * 2)
