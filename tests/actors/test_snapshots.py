"""The snapshot store: a symbol's snapshots reach the disk in order, the newest wins, a
reservation's write is waited for, and a restart reads what was queued."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import orjson
import pytest

from exitd.actors.snapshots import SnapshotStore, open_store


def on_disk(directory: Path, symbol: str) -> object:
    return orjson.loads((directory / f"{symbol}.json").read_bytes())


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "exitd-snapshots"]


def test_the_newest_queued_snapshot_is_what_load_gives_and_what_lands(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for seq in range(1, 200):
        store.put("BTCUSDT", {"seq_reserved": seq})
        store.put("ETHUSDT", {"seq_reserved": -seq})
        assert store.load("BTCUSDT") == {"seq_reserved": seq}
    store.close()
    assert on_disk(tmp_path, "BTCUSDT") == {"seq_reserved": 199}
    assert on_disk(tmp_path, "ETHUSDT") == {"seq_reserved": -199}
    assert SnapshotStore(tmp_path).load("BTCUSDT") == {"seq_reserved": 199}
    assert not list(tmp_path.glob("*.tmp"))


def test_a_waited_write_is_on_disk_when_it_returns(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_store(tmp_path) as store:
            store.put("BTCUSDT", {"seq_reserved": 1, "progress": {"mfe": "1"}})
            await store.write("BTCUSDT", {"seq_reserved": 1000})
            assert on_disk(tmp_path, "BTCUSDT") == {"seq_reserved": 1000}
            store.put("BTCUSDT", {"seq_reserved": 1000, "progress": {"mfe": "2"}})
        assert on_disk(tmp_path, "BTCUSDT") == {"seq_reserved": 1000, "progress": {"mfe": "2"}}

    anyio.run(main)
    assert not writers()


def test_a_failed_write_is_raised_to_its_waiter_and_the_writer_goes_on(tmp_path: Path) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("a file where the folder should be")
    store = SnapshotStore(blocked)

    async def main() -> None:
        with pytest.raises(OSError):
            await store.write("BTCUSDT", {"seq_reserved": 1000})

    anyio.run(main)
    store.put("ETHUSDT", {"seq_reserved": 1})  # logged, not raised
    store.close()
    blocked.unlink()
    store.put("SOLUSDT", {"seq_reserved": 2})
    store.close()
    assert on_disk(blocked, "SOLUSDT") == {"seq_reserved": 2}
    assert not (blocked / "ETHUSDT.json").exists()


def test_the_writer_stops_on_close_and_a_later_put_starts_another(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.close()  # nothing started: nothing to stop
    store.put("BTCUSDT", {"seq_reserved": 1})
    store.close()
    assert not writers()
    store.put("BTCUSDT", {"seq_reserved": 2})
    store.close()
    assert on_disk(tmp_path, "BTCUSDT") == {"seq_reserved": 2}
    assert not writers()
