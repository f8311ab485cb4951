"""config.toml: the shipped file loads, every contradiction is reported under its own key, all
at once, and no secret is ever echoed."""

from __future__ import annotations

import io
import textwrap
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from exitd.engine import ExitProfile, ExitRouter, TrailMode, profile_problems
from exitd.ops._config_schema import to_decimal
from exitd.ops.check_config import run_check_config
from exitd.ops.config import (
    Config,
    ConfigError,
    ExchangeKind,
    SecretKind,
    SecretSource,
    SecretUnavailable,
    effective_config,
    load_config,
    parse_config,
    router,
)
from exitd.ownership import DEFAULT_LEGACY_MODULES, Guard, Mode

SHIPPED = Path(__file__).resolve().parents[2] / "config.toml"
CANARY = "sk-canary-5f3ec40b2afb764e"

PROFILE = """
[profiles.default]
hard_sl_pct = 2.0
take_profits = [ { pct = 1.0, fraction = 0.3 }, { pct = 2.0, fraction = 0.3 } ]
[profiles.default.breakeven]
trigger_pct = 0.8
offset_pct = 0.1
[profiles.default.trail]
activation_pct = 1.5
callback_pct = 0.5
"""


def parse(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), "config.toml", environ or {})


def issue_keys(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, environ)
    return [issue.key for issue in caught.value.issues]


def with_profile(**changes: str) -> str:
    """PROFILE with some `key = value` lines replaced (or added to the section named
    by the key's prefix: `trail__mode="exchange"`)."""
    text = PROFILE
    for dotted, line in changes.items():
        section, _, key = dotted.rpartition("__")
        header = "[profiles.default" + (f".{section}" if section else "") + "]\n"
        lines = [ln for ln in text.split("\n") if not ln.startswith(f"{key} =")]
        text = "\n".join(lines).replace(header, f"{header}{key} = {line}\n", 1)
    return text


# --- the shipped config ---------------------------------------------------------------


def test_shipped_config_loads() -> None:
    config = load_config(SHIPPED, {})
    # The shipped file is the simulator demo: the exit brain owns exits so a new user sees it.
    assert config.exits.mode is Mode.EXIT_BRAIN_V3
    assert config.exchange.kind is ExchangeKind.SIM
    assert config.exchange.sim is not None
    assert config.exchange.sim.symbols == ("BTCUSDT", "ETHUSDT")
    assert config.exchange.sim.walk_seed is None  # the bundled real price file
    assert config.symbol_profiles["BTCUSDT"] == "demo"
    assert config.symbol_profiles["ETHUSDT"] == "scalp"
    default = config.profiles["default"]
    assert isinstance(default, ExitProfile)
    assert default.breakeven is not None
    assert default.trail is not None
    assert default.trail.mode is TrailMode.DAEMON
    assert len(default.take_profits) >= 2
    assert all(profile_problems(p) == () for p in config.profiles.values())


def test_shipped_config_puts_socket_and_state_beside_itself() -> None:
    config = load_config(SHIPPED, {})
    assert config.daemon.socket_path == SHIPPED.parent / "run/exitd.sock"
    assert config.daemon.state_dir == SHIPPED.parent / "state"


def test_shipped_config_routes_symbols_to_their_profiles() -> None:
    config = load_config(SHIPPED, {})
    exit_router = router(config)
    assert isinstance(exit_router, ExitRouter)
    assert exit_router.route("ETHUSDT").profile_name == "scalp"
    assert exit_router.route("XRPUSDT").profile_name == "default"


# --- defaults and numbers -------------------------------------------------------------


def test_an_empty_file_is_the_simulator_in_legacy_mode() -> None:
    config = parse("")
    assert config.exits.mode is Mode.LEGACY
    assert config.exits.guard is Guard.SOFT
    assert config.exits.legacy_modules == DEFAULT_LEGACY_MODULES
    assert config.exchange.kind is ExchangeKind.SIM
    assert config.exchange.sim is not None
    assert config.safety.emergency_sl_pct == Decimal(2)
    assert config.profiles == {}


def test_percentages_are_exact_decimals_from_floats_ints_and_strings() -> None:
    config = parse(
        """
        [profiles.default]
        hard_sl_pct = 2
        take_profits = [ { pct = 0.1, fraction = "0.3" }, { pct = 0.7, fraction = 0.1 } ]
        """
    )
    profile = config.profiles["default"]
    assert profile.hard_sl_pct == Decimal(2)
    first, second = profile.take_profits
    assert (first.pct, first.fraction) == (Decimal("0.1"), Decimal("0.3"))
    assert str(second.pct) == "0.7"
    assert all(type(tp.pct) is Decimal for tp in profile.take_profits)


def test_a_float_becomes_the_decimal_of_its_repr() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(" 1.25 ") == Decimal("1.25")


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "true"])
def test_a_percentage_that_is_no_number_is_an_issue(bad: str) -> None:
    assert issue_keys(with_profile(hard_sl_pct=f'"{bad}"')) == ["profiles.default.hard_sl_pct"]


def test_booleans_and_fractional_seconds_are_no_numbers_here() -> None:
    keys = issue_keys(with_profile(hard_sl_pct="true", time_limit_s="1.5"))
    assert keys == ["profiles.default.hard_sl_pct", "profiles.default.time_limit_s"]


# --- the contradictions, each under its key -------------------------------------------


def test_exit_brain_v3_without_the_flag_is_an_issue() -> None:
    assert issue_keys('[exits]\nmode = "EXIT_BRAIN_V3"') == ["exits.mode"]


def test_exit_brain_v3_with_the_flag_loads() -> None:
    config = parse('[exits]\nmode = "EXIT_BRAIN_V3"\nexit_brain_v3_enabled = true\nguard = "hard"')
    assert (config.exits.mode, config.exits.guard) == (Mode.EXIT_BRAIN_V3, Guard.HARD)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        (
            {"take_profits": "[{ pct = 1.0, fraction = 0.6 }, { pct = 2.0, fraction = 0.6 }]"},
            "profiles.default.take_profits",
        ),
        (
            {"take_profits": "[{ pct = 2.0, fraction = 0.3 }, { pct = 2.0, fraction = 0.3 }]"},
            "profiles.default.take_profits[1].pct",
        ),
        ({"breakeven__offset_pct": "0.8"}, "profiles.default.breakeven.offset_pct"),
        ({"hard_sl_pct": "0"}, "profiles.default.hard_sl_pct"),
        ({"hard_sl_pct": "-1.5"}, "profiles.default.hard_sl_pct"),
        (
            {"take_profits": "[{ pct = -1.0, fraction = 0.3 }]"},
            "profiles.default.take_profits[0].pct",
        ),
        ({"trail__callback_pct": "0"}, "profiles.default.trail.callback_pct"),
        ({"trail__callback_pct": "-0.5"}, "profiles.default.trail.callback_pct"),
        ({"trail__activation_pct": "-1"}, "profiles.default.trail.activation_pct"),
        ({"time_limit_s": "0"}, "profiles.default.time_limit_s"),
        ({"breakeven__after_tp": "3"}, "profiles.default.breakeven.after_tp"),
    ],
)
def test_each_profile_contradiction_has_its_key(changes: dict[str, str], key: str) -> None:
    assert issue_keys(with_profile(**changes)) == [key]


@pytest.mark.parametrize("callback", ["25", "0.05", "0.25"])
def test_exchange_trail_callback_outside_binances_range_is_an_issue(callback: str) -> None:
    text = with_profile(trail__mode='"exchange"', trail__callback_pct=callback)
    assert issue_keys(text) == ["profiles.default.trail.callback_pct"]


def test_exchange_trail_callback_inside_binances_range_loads() -> None:
    profile = parse(with_profile(trail__mode='"exchange"', trail__callback_pct="0.3")).profiles[
        "default"
    ]
    assert profile.trail is not None
    assert profile.trail.mode is TrailMode.EXCHANGE


def test_a_daemon_trail_takes_a_callback_binance_would_refuse() -> None:
    assert parse(with_profile(trail__callback_pct="0.05")).profiles["default"].trail is not None


def test_a_route_to_a_missing_profile_is_an_issue() -> None:
    assert issue_keys(PROFILE + '[symbols.SOLUSDT]\nprofile = "swing"') == [
        "symbols.SOLUSDT.profile"
    ]


def test_a_route_to_a_broken_profile_is_that_profiles_issue_only() -> None:
    text = with_profile(hard_sl_pct="0") + '[symbols.SOLUSDT]\nprofile = "default"'
    assert issue_keys(text) == ["profiles.default.hard_sl_pct"]


def test_a_lowercase_symbol_would_never_match_and_is_an_issue() -> None:
    assert issue_keys(PROFILE + '[symbols.btcusdt]\nprofile = "default"') == ["symbols.btcusdt"]


def test_the_emergency_stop_follows_the_hard_stop_rule() -> None:
    assert issue_keys("[safety]\nemergency_sl_pct = 0") == ["safety.emergency_sl_pct"]


# --- unknown keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[daemon]\nlog_levl = "debug"', "daemon.log_levl"),
        ("[exchang]\nkind = 1", "exchang"),
        (with_profile(trail__calback_pct="0.5"), "profiles.default.trail.calback_pct"),
    ],
)
def test_an_unknown_key_is_an_issue(text: str, key: str) -> None:
    assert issue_keys(text) == [key]


def test_an_unknown_key_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse('[daemon]\nlog_levl = "debug"')
    assert "log_level" in caught.value.issues[0].allowed


def test_an_unknown_key_does_not_hide_the_profiles_own_issues() -> None:
    text = with_profile(breakeven__offset_pct="0.9", breakeven__typo="1")
    assert sorted(issue_keys(text)) == [
        "profiles.default.breakeven.offset_pct",
        "profiles.default.breakeven.typo",
    ]


# --- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["api_key", "api_secret"])
def test_a_literal_secret_is_an_issue_and_never_echoed(key: str) -> None:
    text = f'[exchange]\n{key} = "{CANARY}"'
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert [i.key for i in caught.value.issues] == [f"exchange.{key}"]
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value.issues)


def test_a_secret_under_a_mistyped_key_is_not_echoed_either() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(f'[exchange]\napi_secrt = "{CANARY}"')
    assert [i.key for i in caught.value.issues] == ["exchange.api_secrt"]
    assert CANARY not in str(caught.value)


def test_secret_sources_are_kept_as_sources() -> None:
    config = parse(
        """
        [exchange]
        kind = "binance"
        api_key = { env = "EXITD_API_KEY" }
        api_secret = { credential = "binance_api_secret" }
        """
    )
    assert config.exchange.api_key == SecretSource(SecretKind.ENV, "EXITD_API_KEY")
    assert config.exchange.api_secret == SecretSource(SecretKind.CREDENTIAL, "binance_api_secret")


def test_a_secret_source_names_exactly_one_place() -> None:
    assert issue_keys('[exchange]\napi_key = { env = "A", file = "b" }') == ["exchange.api_key"]


def test_binance_needs_both_keys() -> None:
    assert issue_keys('[exchange]\nkind = "binance"') == ["exchange.api_key", "exchange.api_secret"]


def test_secret_sources_read_env_file_and_credential(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(f"{CANARY}\n")
    environ = {"K": CANARY, "CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert SecretSource(SecretKind.ENV, "K").read(environ) == CANARY
    assert SecretSource(SecretKind.FILE, str(tmp_path / "key")).read(environ) == CANARY
    assert SecretSource(SecretKind.CREDENTIAL, "key").read(environ) == CANARY
    with pytest.raises(SecretUnavailable):
        SecretSource(SecretKind.CREDENTIAL, "key").read({})
    with pytest.raises(SecretUnavailable):
        SecretSource(SecretKind.ENV, "MISSING").read(environ)


# --- exchange and simulator -----------------------------------------------------------

KEYS = 'api_key = { env = "K" }\napi_secret = { env = "S" }\n'


@pytest.mark.parametrize(
    ("kind", "rest", "ws"),
    [
        ("binance", "https://fapi.binance.com", "wss://fstream.binance.com"),
        ("binance-testnet", "https://demo-fapi.binance.com", "wss://fstream.binancefuture.com"),
    ],
)
def test_urls_default_per_kind(kind: str, rest: str, ws: str) -> None:
    exchange = parse(f'[exchange]\nkind = "{kind}"\n{KEYS}').exchange
    assert (exchange.rest_url, exchange.ws_url, exchange.sim) == (rest, ws, None)


def test_a_sim_table_with_a_real_exchange_is_an_issue() -> None:
    text = f'[exchange]\nkind = "binance"\n{KEYS}[exchange.sim]\nwalk_seed = 1'
    assert issue_keys(text) == ["exchange.sim"]


def test_prices_and_walk_seed_together_are_an_issue(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("price\n1\n")
    text = '[exchange.sim]\nwalk_seed = 1\nprices = "p.csv"'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config.toml", {}, base_dir=tmp_path)
    assert [i.key for i in caught.value.issues] == ["exchange.sim.prices"]


def test_a_missing_price_file_is_an_issue() -> None:
    assert issue_keys('[exchange.sim]\nprices = "no/such/file.csv"') == ["exchange.sim.prices"]


def test_a_price_file_is_found_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("price\n1\n")
    (tmp_path / "config.toml").write_text('[exchange.sim]\nprices = "p.csv"\nspeed = 0')
    sim = load_config(tmp_path / "config.toml", {}).exchange.sim
    assert sim is not None
    assert (sim.prices, sim.walk_seed, sim.speed) == (tmp_path / "p.csv", None, 0.0)


def test_sim_urls_name_a_running_simulator_and_need_each_other() -> None:
    exchange = parse(
        '[exchange]\nrest_url = "http://127.0.0.1:8080"\nws_url = "ws://127.0.0.1:8080"'
    ).exchange
    assert (exchange.kind, exchange.sim) == (ExchangeKind.SIM, None)
    assert issue_keys('[exchange]\nrest_url = "http://127.0.0.1:8080"') == ["exchange.ws_url"]


def test_legacy_module_names_are_checked_but_unknown_names_are_fine() -> None:
    modules = parse('[exits]\nlegacy_modules = ["risk_guard"]').exits.legacy_modules
    assert modules == ("risk_guard",)
    keys = issue_keys('[exits]\nlegacy_modules = ["Risk-Guard", "", "exit_brain_v3"]')
    assert keys == [f"exits.legacy_modules[{i}]" for i in range(3)]


def test_a_socket_path_too_long_for_a_unix_socket_is_an_issue() -> None:
    assert issue_keys(f'[daemon]\nsocket_path = "/{"x" * 120}"') == ["daemon.socket_path"]


# --- environment overrides ------------------------------------------------------------


def test_environment_overrides_the_file() -> None:
    environ = {"EXIT_MODE": "exit_brain_v3", "EXIT_BRAIN_V3_ENABLED": "yes", "EXIT_GUARD": "HARD"}
    exits = parse('[exits]\nmode = "LEGACY"\nguard = "soft"', environ).exits
    assert (exits.mode, exits.exit_brain_v3_enabled, exits.guard) == (
        Mode.EXIT_BRAIN_V3,
        True,
        Guard.HARD,
    )
    assert exits.env_overrides == ("EXIT_MODE", "EXIT_BRAIN_V3_ENABLED", "EXIT_GUARD")


def test_environment_can_take_exits_back_to_legacy() -> None:
    text = '[exits]\nmode = "EXIT_BRAIN_V3"\nexit_brain_v3_enabled = true'
    assert parse(text, {"EXIT_MODE": "LEGACY"}).exits.mode is Mode.LEGACY


@pytest.mark.parametrize(
    ("text", "flag"),
    [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)],
)
def test_exit_brain_v3_enabled_reads_the_usual_spellings(text: str, flag: bool) -> None:
    assert parse("", {"EXIT_BRAIN_V3_ENABLED": text}).exits.exit_brain_v3_enabled is flag


def test_an_empty_environment_variable_is_not_an_override() -> None:
    assert parse("", {"EXIT_MODE": "", "EXIT_GUARD": " "}).exits.env_overrides == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("EXIT_MODE", "BRAIN"), ("EXIT_GUARD", "medium"), ("EXIT_BRAIN_V3_ENABLED", "maybe")],
)
def test_an_invalid_override_is_an_issue(variable: str, value: str) -> None:
    assert issue_keys("", {variable: value}) == [f"env.{variable}"]


def test_mode_from_the_environment_still_needs_the_flag() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("", {"EXIT_MODE": "EXIT_BRAIN_V3"})
    (issue,) = caught.value.issues
    assert issue.key == "exits.mode"
    assert "EXIT_MODE" in issue.allowed


# --- all at once, and the file itself -------------------------------------------------


def test_every_issue_is_reported_at_once() -> None:
    text = (
        '[exits]\nmode = "EXIT_BRAIN_V3"\n'
        f'[exchange]\napi_key = "{CANARY}"\nrecv_window_ms = 0\n'
        '[daemon]\nlog_level = "loud"\n'
        + with_profile(
            take_profits="[{ pct = 1.0, fraction = 0.6 }, { pct = 0.5, fraction = 0.6 }]",
            breakeven__offset_pct="0.9",
        )
        + '[symbols.SOLUSDT]\nprofile = "swing"\n'
    )
    assert sorted(issue_keys(text, {"EXIT_GUARD": "medium"})) == sorted(
        [
            "exits.mode",
            "exchange.api_key",
            "exchange.recv_window_ms",
            "daemon.log_level",
            "env.EXIT_GUARD",
            "profiles.default.take_profits[1].pct",
            "profiles.default.take_profits",
            "profiles.default.breakeven.offset_pct",
            "symbols.SOLUSDT.profile",
        ]
    )


def test_a_toml_syntax_error_gives_its_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("[daemon]\nlog_level = \n")
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (2, 13)
    assert caught.value.lines()[0].startswith("config.toml:2:13: invalid TOML: ")


def test_a_missing_file_is_one_issue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", {})
    assert len(caught.value.issues) == 1
    assert "cannot read" in caught.value.lines()[0]


# --- effective config and check-config ------------------------------------------------


def test_effective_config_shows_sources_not_secrets_and_decimals_as_strings() -> None:
    config = parse(f'[exchange]\nkind = "binance"\n{KEYS}' + PROFILE, {"EXIT_GUARD": "hard"})
    effective = effective_config(config)
    exchange = effective["exchange"]
    assert isinstance(exchange, dict)
    assert exchange["api_key"] == {"env": "K"}
    assert effective["exits"] == {
        "mode": "LEGACY",
        "exit_brain_v3_enabled": False,
        "guard": "hard",
        "legacy_modules": list(DEFAULT_LEGACY_MODULES),
        "env_overrides": ["EXIT_GUARD"],
    }
    profiles = effective["profiles"]
    assert isinstance(profiles, dict)
    assert profiles["default"]["hard_sl_pct"] == "2.0"
    assert profiles["default"]["trail"]["min_step_pct"] == "0"
    orjson.dumps(effective)  # plain data all the way down


def test_check_config_prints_the_effective_config_and_returns_0() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_check_config(str(SHIPPED), {}, out, err) == 0
    assert err.getvalue() == ""
    printed = orjson.loads(out.getvalue())
    assert printed["exchange"]["kind"] == "sim"
    assert printed["symbols"]["ETHUSDT"] == {"profile": "scalp"}


def test_check_config_prints_each_issue_and_returns_2(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[exchange]\napi_secret = "{CANARY}"\n'
        "[profiles.scalp]\nhard_sl_pct = 1\n"
        "[profiles.scalp.breakeven]\ntrigger_pct = 0.5\noffset_pct = 0.9\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert run_check_config(str(path), {}, out, err) == 2
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        f"{path}: exchange.api_secret = (not shown): allowed: a source, never the secret itself: "
        '{ env = "NAME" }, { file = "/path" } or { credential = "name" } '
        "(a file under $CREDENTIALS_DIRECTORY)",
        f"{path}: profiles.scalp.breakeven.offset_pct = 0.9: allowed: below the breakeven "
        "trigger_pct 0.5",
    ]
    assert CANARY not in err.getvalue()


def test_check_config_on_a_missing_file_returns_2_without_a_traceback(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_check_config(str(tmp_path / "config.toml"), {}, out, err) == 2
    assert "Traceback" not in err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_the_bundled_prices_need_their_symbol_listed() -> None:
    assert issue_keys('[exchange.sim]\nsymbols = ["ETHUSDT"]') == ["exchange.sim.symbols"]
    walk = parse('[exchange.sim]\nsymbols = ["ETHUSDT"]\nwalk_seed = 7')
    assert walk.exchange.sim is not None
    assert walk.exchange.sim.symbols == ("ETHUSDT",)
