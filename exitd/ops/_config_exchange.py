"""config.toml's `[exchange]`: which exchange, its endpoints, where the API keys come from, and
the embedded simulator of `[exchange.sim]`.

The schema, the frozen values the daemon receives and the rules that tie the keys together,
one place for all of it. A key appears here only as its source (`SecretSource`), read at start
by whoever needs it: never a value in the config, an issue or `exitd check-config`'s output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, StrictInt, model_validator

from exitd.ops._config_schema import (
    ConfigIssue,
    CredentialName,
    EnvName,
    NonNegative,
    Note,
    RestUrl,
    Symbol,
    Text,
    WsUrl,
    _folded,
    _Section,
    validate,
)
from exitd.ops.logs import remember_secret

# The bundled price file (exitd/data) and its symbol: what the embedded simulator replays when
# the config names neither prices nor a walk.
BUNDLED_PRICES = "btcusdt-um-trades-2024-07-18_19.csv"
BUNDLED_SYMBOL = "BTCUSDT"


class ExchangeKind(Enum):
    SIM = "sim"
    BINANCE = "binance"
    BINANCE_TESTNET = "binance-testnet"


DEFAULT_URLS: Mapping[ExchangeKind, tuple[str | None, str | None]] = {
    ExchangeKind.BINANCE: ("https://fapi.binance.com", "wss://fstream.binance.com"),
    ExchangeKind.BINANCE_TESTNET: (
        "https://demo-fapi.binance.com",
        "wss://fstream.binancefuture.com",
    ),
    # The embedded simulator binds a free loopback port at start; there is nothing to name.
    ExchangeKind.SIM: (None, None),
}
LITERAL_SECRET = (
    'a source, never the secret itself: { env = "NAME" }, { file = "/path" } or '
    '{ credential = "name" } (a file under $CREDENTIALS_DIRECTORY)'
)
_SOURCES = '{ env = "NAME" }, { file = "/path" } or { credential = "name" }'


class SecretModel(_Section):
    env: EnvName | None = None
    file: Text | None = None
    credential: CredentialName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretModel:
        if sum(source is not None for source in (self.env, self.file, self.credential)) != 1:
            raise ValueError("exactly one of env, file or credential")
        return self


def _no_literal_secret(value: object) -> object:
    if isinstance(value, str):
        raise ValueError(LITERAL_SECRET)
    return value


SecretField = Annotated[SecretModel | None, BeforeValidator(_no_literal_secret)]


class SimModel(_Section):
    symbols: tuple[Symbol, ...] = Field(default=("BTCUSDT", "ETHUSDT"), min_length=1)
    walk_seed: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] | None = None
    prices: Text | None = None
    speed: NonNegative = 1.0


class ExchangeModel(_Section):
    kind: Annotated[ExchangeKind, _folded(upper=False)] = ExchangeKind.SIM
    rest_url: RestUrl | None = None
    ws_url: WsUrl | None = None
    recv_window_ms: Annotated[StrictInt, Field(ge=1, le=60000)] = 5000
    api_key: SecretField = None
    api_secret: SecretField = None
    sim: SimModel | None = None


class SecretUnavailable(Exception):
    """A secret's source could not be read; the message names the source, never a value."""


class SecretKind(Enum):
    ENV = "env"
    FILE = "file"
    # A systemd credential (LoadCredential=): a file under $CREDENTIALS_DIRECTORY.
    CREDENTIAL = "credential"


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a secret is read from at start; the config never holds the secret itself."""

    kind: SecretKind
    name: str

    def describe(self) -> dict[str, str]:
        return {self.kind.value: self.name}

    def read(self, environ: Mapping[str, str]) -> str:
        """The secret, surrounding whitespace removed (files usually end in a newline); from
        now on masked in every log line."""
        secret = self._read(environ)
        remember_secret(secret)
        return secret

    def _read(self, environ: Mapping[str, str]) -> str:
        if self.kind is SecretKind.ENV:
            value = environ.get(self.name)
            if not value:
                raise SecretUnavailable(f"environment variable {self.name} is not set")
            return value.strip()
        path = Path(self.name)
        if self.kind is SecretKind.CREDENTIAL:
            directory = environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                raise SecretUnavailable(
                    f"credential {self.name}: CREDENTIALS_DIRECTORY is not set (LoadCredential=)"
                )
            path = Path(directory) / self.name
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretUnavailable(f"cannot read {path}: {type(exc).__name__}") from None


@dataclass(frozen=True, slots=True)
class SimSettings:
    """The embedded simulator: its symbols and where its prices come from (a seeded walk, a
    price file, or neither: the bundled BTCUSDT trades); `speed` paces a file only."""

    symbols: tuple[str, ...]
    walk_seed: int | None
    prices: Path | None
    speed: float


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    kind: ExchangeKind
    rest_url: str | None
    ws_url: str | None
    recv_window_ms: int
    api_key: SecretSource | None
    api_secret: SecretSource | None
    # Set exactly when the daemon starts the simulator in-process (kind "sim", no URLs).
    sim: SimSettings | None


def exchange_settings(
    value: object, base: Path, issues: list[ConfigIssue]
) -> ExchangeSettings | None:
    """`[exchange]` as settings, paths relative to `base`; its issues go to `issues`."""
    checked = validate(ExchangeModel, value, "exchange")
    issues += checked.issues
    model = checked.model
    if model is None:
        return None
    sim = None
    if checked.intact("kind", "rest_url", "ws_url", "sim"):
        sim = _sim(model, base, issues)
    if model.kind is not ExchangeKind.SIM and checked.intact("kind", "api_key", "api_secret"):
        for key in ("api_key", "api_secret"):
            if getattr(model, key) is None:
                allowed = f'a source for kind "{model.kind.value}": {_SOURCES}'
                issues.append(ConfigIssue(f"exchange.{key}", None, allowed))
    rest_url, ws_url = DEFAULT_URLS[model.kind]
    return ExchangeSettings(
        kind=model.kind,
        rest_url=model.rest_url or rest_url,
        ws_url=model.ws_url or ws_url,
        recv_window_ms=model.recv_window_ms,
        api_key=_secret(model.api_key, base),
        api_secret=_secret(model.api_secret, base),
        sim=sim,
    )


def _sim(model: ExchangeModel, base: Path, issues: list[ConfigIssue]) -> SimSettings | None:
    """The embedded simulator's settings, when the daemon is to start one."""
    table = Note("(a table)")
    if model.kind is not ExchangeKind.SIM:
        if model.sim is not None:
            allowed = f'only with kind = "sim" (kind is "{model.kind.value}")'
            issues.append(ConfigIssue("exchange.sim", table, allowed))
        return None
    if model.rest_url or model.ws_url:
        # URLs name a simulator already running (`exitd sim`); nothing is embedded.
        if model.sim is not None:
            allowed = "left out when rest_url/ws_url name a running simulator"
            issues.append(ConfigIssue("exchange.sim", table, allowed))
        for key in ("rest_url", "ws_url"):
            if getattr(model, key) is None:
                allowed = "set too: with kind sim, rest_url and ws_url name a running simulator"
                issues.append(ConfigIssue(f"exchange.{key}", None, allowed))
        return None
    sim = model.sim or SimModel()
    prices = None if sim.prices is None else base / sim.prices
    if prices is None and sim.walk_seed is None and BUNDLED_SYMBOL not in sim.symbols:
        allowed = (
            f"{BUNDLED_SYMBOL} among them: with neither prices nor walk_seed the bundled "
            f"{BUNDLED_SYMBOL} trades are replayed"
        )
        issues.append(ConfigIssue("exchange.sim.symbols", list(sim.symbols), allowed))
    if prices is not None and sim.walk_seed is not None:
        allowed = "either prices or walk_seed, not both"
        issues.append(ConfigIssue("exchange.sim.prices", sim.prices, allowed))
    elif prices is not None and not prices.is_file():
        allowed = f"an existing price file ({prices} is not one; relative to the config's folder)"
        issues.append(ConfigIssue("exchange.sim.prices", sim.prices, allowed))
    return SimSettings(sim.symbols, sim.walk_seed, prices, sim.speed)


def _secret(model: SecretModel | None, base: Path) -> SecretSource | None:
    if model is None:
        return None
    if model.env is not None:
        return SecretSource(SecretKind.ENV, model.env)
    if model.file is not None:
        return SecretSource(SecretKind.FILE, str(base / model.file))
    assert model.credential is not None  # the schema requires exactly one source
    return SecretSource(SecretKind.CREDENTIAL, model.credential)
