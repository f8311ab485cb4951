"""The API keys as systemd hands them over (LoadCredential=/LoadCredentialEncrypted=): files
named after the credential in $CREDENTIALS_DIRECTORY, read by `{ credential = "NAME" }`."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest

from exitd.ops.config import parse_config
from exitd.run_command import run_command
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, running
from tests.integration.harness import config_text, daemon_running
from tests.integration.ledger_checks import leg_of_id
from tests.integration.notify_socket import listening

pytestmark = pytest.mark.anyio
AS_CREDENTIALS = {
    '{ env = "EXITD_API_KEY" }': '{ credential = "binance_api_key" }',
    '{ env = "EXITD_API_SECRET" }': '{ credential = "binance_api_secret" }',
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def with_credentials(text: str) -> str:
    for env, credential in AS_CREDENTIALS.items():
        assert env in text
        text = text.replace(env, credential)
    return text


async def test_the_daemon_signs_with_the_keys_from_the_credentials_directory(
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "binance_api_key").write_text(API_KEY + "\n")
    (credentials / "binance_api_secret").write_text(API_SECRET + "\n")
    async with running() as (sim, client), listening() as notify:
        answer = await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "40000"})
        assert answer.status == 200
        body = {"symbol": "BTCUSDT", "side": "LONG", "qty": "1", "price": "40000"}
        assert (await client.admin("POST", "/sim/position", body)).status == 200
        # No key in the environment: only the credentials directory has them.
        environ = {"CREDENTIALS_DIRECTORY": str(credentials), "NOTIFY_SOCKET": str(notify.path)}
        text = with_credentials(config_text(sim))
        config = parse_config(text, "test.toml", environ, base_dir=tmp_path)
        async with daemon_running(config, environ):
            await notify.wait_for(lambda: bool(notify.having("READY", "1")))
        # Protected means signed requests the simulator accepted: the HARD_SL rests.
        resting = sim.account.open_algo_orders("BTCUSDT")
        assert "HARD_SL" in {leg_of_id(o.client_order_id) for o in resting}


def test_a_missing_credential_stops_the_start_with_its_name_and_no_secret(tmp_path: Path) -> None:
    config = tmp_path / "exitd.toml"
    text = (
        '[daemon]\nstate_dir = "state"\nlog_format = "json"\n'
        '[exchange]\nkind = "sim"\nrest_url = "http://127.0.0.1:9"\nws_url = "ws://127.0.0.1:9"\n'
        'api_key = { env = "EXITD_API_KEY" }\napi_secret = { env = "EXITD_API_SECRET" }\n'
    )
    config.write_text(with_credentials(text))
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as empty:
        (Path(empty) / "binance_api_key").write_text(API_KEY)
        code = run_command(str(config), {"CREDENTIALS_DIRECTORY": empty}, err)
    assert code == 2
    assert "exitd run: cannot read " in err.getvalue()
    assert "binance_api_secret: FileNotFoundError" in err.getvalue()
    assert API_KEY not in err.getvalue()
