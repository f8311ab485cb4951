"""`exitd ctl`'s readable output: each command's result as aligned text.

Pure and standard-library only. `--json` bypasses all of it and prints the result as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows under a header, each column as wide as its widest cell."""
    if not rows:
        return "(none)"
    cells = [[c.upper() for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def pairs(result: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    shown = keys if keys is not None else list(result)
    width = max((len(k) for k in shown), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(result.get(k))}" for k in shown)


_ORDER_COLUMNS = (
    "symbol",
    "module",
    "leg",
    "type",
    "side",
    "quantity",
    "price",
    "triggerPrice",
    "status",
    "clientOrderId",
)


def _status(r: Mapping[str, Any]) -> str:
    head = pairs(r, [k for k in r if k not in ("actors", "exchange")])
    return "\n\n".join(
        [
            head,
            "exchange\n" + pairs(r["exchange"]),
            table(r["actors"], ("name", "running", "restarts")),
        ]
    )


def _positions(r: Sequence[Mapping[str, Any]]) -> str:
    columns = ("symbol", "side", "amount", "entryPrice", "markPrice", "profile", "protected")
    return table(r, (*columns, "paused"))


def _plan(r: Mapping[str, Any]) -> str:
    mark = r.get("lastMark") or {}
    lines = [
        pairs(
            {
                "symbol": r["symbol"],
                "paused": r["paused"],
                "last mark": f"{_cell(mark.get('price'))} at {_cell(mark.get('time'))}",
                "in flight": r["inflight"],
                "position": r["position"],
            }
        )
    ]
    plan = r.get("plan")
    if plan is None:
        lines.append("no plan adopted yet")
    else:
        lines.append(pairs(plan, ("profile", "side", "entryPrice", "qty", "bestPrice", "done")))
        legs = [{**leg, "orders": [o["clientOrderId"] for o in leg.get("orders", ())]}
                for leg in plan["legs"]]  # fmt: skip
        columns = ("leg", "price", "qty", "trigger", "activation", "stop", "state", "orders")
        lines.append(table(legs, columns))
    lines.append("open orders\n" + table(r["openOrders"], _ORDER_COLUMNS))
    return "\n\n".join(lines)


def _metrics(r: Mapping[str, Any]) -> str:
    orders = table(r["orders"], ("module", "kind", "outcome", "count"))
    totals = pairs(r, ("total_orders", "total_conflicts", "conflicts"))
    return f"{orders}\n\n{totals}"


def _summary(r: Mapping[str, Any]) -> str:
    by_module = r["orders_by_module"]
    kinds = sorted({k for row in by_module.values() for k in row})
    rows = [{"module": m, **row} for m, row in by_module.items()]
    totals = ("orders_by_kind", "orders_by_outcome", "conflicts", "total_orders", "total_conflicts")
    return f"{table(rows, ('module', *kinds))}\n\n{pairs(r, totals)}"


def _switch(name: str) -> Callable[[Mapping[str, Any]], str]:
    def render(r: Mapping[str, Any]) -> str:
        was = f" (was {r['previous']})" if "previous" in r else ""
        return f"{name}: {r[name]}{was}"

    return render


RENDERERS: Mapping[str, Callable[[Any], str]] = {
    "status": _status,
    "positions": _positions,
    "orders": lambda r: table(r, _ORDER_COLUMNS),
    "plan": _plan,
    "set-plan": _plan,
    "metrics": _metrics,
    "summary": _summary,
    "mode": _switch("mode"),
    "guard": _switch("guard"),
    "pause": lambda r: f"{r['symbol']} paused (its stops stay on the exchange)",
    "resume": lambda r: f"{r['symbol']} resumed",
    "flatten": lambda r: table([r], _ORDER_COLUMNS),
    "submit": lambda r: table([r], _ORDER_COLUMNS),
    "reload": pairs,
}


def render(command: str, result: Any) -> str:
    return RENDERERS[command](result)
