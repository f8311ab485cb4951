"""The commands that change something: mode, guard, pause, resume, set-plan, flatten, submit.

Each goes through an actor's mailbox (the gateway's for orders, a symbol actor's for its
plan) and answers with what it saw happen. `mode` and `guard` without an argument only read.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import structlog

from exitd.actors.legacy import submit_order
from exitd.actors.messages import NotSent, Pause, PlanOverride, SymbolMessage, WriteAnswer
from exitd.actors.overrides import OverrideRefused, apply_overrides
from exitd.actors.symbol import SymbolActor
from exitd.control.desk import Desk
from exitd.control.orders import order_json, parse_kind, parse_order
from exitd.control.protocol import Code, CommandError, object_arg, symbol_arg, text_arg
from exitd.control.views import overrides_of, plan_json
from exitd.engine import Leg, OrderSide, make_client_order_id
from exitd.exchange.port import Accepted, OrderRequest, Rejected
from exitd.ops.metrics import OrderKind
from exitd.ownership import EXIT_BRAIN, KNOWN_MODULE_CODES, OPERATOR, Guard, Mode, validate_mode

log = structlog.get_logger("exitd.control")

_SUBMIT_TIMEOUT_S = 30.0
_SPECIAL_MODULES = frozenset({EXIT_BRAIN, OPERATOR, "safety_net"})


async def mode(desk: Desk, args: Mapping[str, Any]) -> object:
    gateway = desk.daemon.gateway
    rules = gateway.ownership
    wanted = text_arg(args, "mode", required=False)
    if wanted is None:
        return {"mode": rules.mode.value}
    chosen = next((m for m in Mode if m.value == wanted.upper()), None)
    if chosen is None:
        raise CommandError(Code.BAD_ARGS, f"mode {wanted!r}: LEGACY or EXIT_BRAIN_V3")
    problem = validate_mode(chosen, desk.config.exits.exit_brain_v3_enabled)
    if problem is not None:
        raise CommandError(Code.MODE_RULE, f"mode {chosen.value}: {problem}")
    gateway.set_ownership(dataclasses.replace(rules, mode=chosen))
    log.warning("control.mode_changed", mode=chosen.value, previous=rules.mode.value)
    return {"mode": chosen.value, "previous": rules.mode.value}


async def guard(desk: Desk, args: Mapping[str, Any]) -> object:
    gateway = desk.daemon.gateway
    rules = gateway.ownership
    wanted = text_arg(args, "guard", required=False)
    if wanted is None:
        return {"guard": rules.guard.value}
    chosen = next((g for g in Guard if g.value == wanted.lower()), None)
    if chosen is None:
        raise CommandError(Code.BAD_ARGS, f"guard {wanted!r}: soft or hard")
    gateway.set_ownership(dataclasses.replace(rules, guard=chosen))
    log.warning("control.guard_changed", guard=chosen.value, previous=rules.guard.value)
    return {"guard": chosen.value, "previous": rules.guard.value}


async def pause(desk: Desk, args: Mapping[str, Any]) -> object:
    return await _pause(desk, args, paused=True)


async def resume(desk: Desk, args: Mapping[str, Any]) -> object:
    return await _pause(desk, args, paused=False)


async def _pause(desk: Desk, args: Mapping[str, Any], *, paused: bool) -> object:
    symbol = symbol_arg(args)
    assert symbol is not None
    actor = desk.actor(symbol)
    _post(actor, Pause(paused))
    await desk.until(lambda: actor.view.paused is paused, "pause" if paused else "resume")
    return {"symbol": symbol, "paused": paused}


async def set_plan(desk: Desk, args: Mapping[str, Any]) -> object:
    symbol = symbol_arg(args)
    assert symbol is not None
    module = text_arg(args, "module", required=False)
    if module is not None:
        _check_module(desk, module)
    try:
        overrides = overrides_of(object_arg(args, "overrides"))
    except ValueError as exc:
        raise CommandError(Code.BAD_ARGS, f"overrides: {exc}") from None
    if not overrides:
        raise CommandError(Code.BAD_ARGS, "overrides: at least one field")
    actor = desk.actor(symbol)
    state = actor.view.state
    if state is None:
        raise CommandError(Code.NOT_FOUND, f"{symbol}: no plan adopted yet")
    try:
        profile = apply_overrides(state.plan.profile, overrides)
    except OverrideRefused as exc:
        raise CommandError(Code.BAD_ARGS, f"overrides: {exc}") from None
    if module is not None:
        # A legacy module steering the brain's plan instead of placing its own orders.
        log.info("plan.legacy_fallback", module=module, symbol=symbol, overrides=dict(overrides))
    _post(actor, PlanOverride(overrides))

    def applied() -> bool:
        now = actor.view.state
        return now is not None and now.plan.profile == profile

    await desk.until(applied, "set-plan")
    return plan_json(actor.view, 0)


async def flatten(desk: Desk, args: Mapping[str, Any]) -> object:
    """Close the whole position at market, reduce-only; its stops stay until it is flat."""
    symbol = symbol_arg(args)
    assert symbol is not None
    position = desk.daemon.account.positions.get(symbol)
    if position is None or position.amount == 0:
        raise CommandError(Code.NOT_FOUND, f"{symbol}: no open position")
    closing = OrderSide.SELL if position.amount > 0 else OrderSide.BUY
    seq = time.time_ns() // 1_000_000
    order = OrderRequest(
        symbol,
        make_client_order_id(KNOWN_MODULE_CODES[OPERATOR], symbol, Leg.TIME, seq),
        closing,
        "MARKET",
        quantity=abs(position.amount),
        reduce_only=True,
    )
    log.warning("control.flatten", symbol=symbol, qty=str(abs(position.amount)))
    return await _place(desk, OPERATOR, OrderKind.TIME, order)


async def submit(desk: Desk, args: Mapping[str, Any]) -> object:
    """A legacy module's exit order through the gateway, under the ownership policy."""
    module = text_arg(args, "module")
    assert module is not None
    _check_module(desk, module)
    symbol = symbol_arg(args)
    assert symbol is not None
    kind = parse_kind(args.get("kind"))
    order = parse_order(symbol, object_arg(args, "order"))
    return await _place(desk, module, kind, order)


def _post(actor: SymbolActor, message: SymbolMessage) -> None:
    """Into the actor's mailbox without waiting: a full mailbox is an answer, not a hang."""
    if not actor.mailbox.post(message):
        raise CommandError(Code.BUSY, f"{actor.symbol}: its mailbox is full; try again")


def _check_module(desk: Desk, module: str) -> None:
    """Only configured modules reach the gateway, and so its metrics labels."""
    modules = desk.daemon.gateway.ownership.legacy_modules
    if module in _SPECIAL_MODULES or module not in modules:
        raise CommandError(
            Code.UNKNOWN_MODULE,
            f"module {module!r}: one of exits.legacy_modules ({', '.join(modules)})",
        )


async def _place(desk: Desk, module: str, kind: OrderKind, order: OrderRequest) -> object:
    try:
        answer = await submit_order(
            desk.daemon.gateway.mailbox, module, kind, order, timeout_s=_SUBMIT_TIMEOUT_S
        )
    except TimeoutError:
        raise CommandError(
            Code.TIMEOUT,
            f"no outcome within {_SUBMIT_TIMEOUT_S:g} s; the gateway still tracks "
            f"{order.client_order_id}: see `orders`",
        ) from None
    return outcome_json(answer)


def outcome_json(answer: WriteAnswer) -> object:
    """The exchange's order as placed, or CommandError with the refusal and its reason."""
    outcome = answer.outcome
    if isinstance(outcome, Accepted):
        return {**order_json(outcome.order), "module": answer.write.module}
    cid = answer.write.client_order_id
    if isinstance(outcome, NotSent):
        refusal = {"reason": outcome.reason.value, "clientOrderId": cid}
        raise CommandError(Code.REFUSED, outcome.message, refusal)
    if isinstance(outcome, Rejected):
        rejection = {"reject": outcome.kind.value, "exchangeCode": outcome.code}
        raise CommandError(Code.REJECTED, outcome.reason, {**rejection, "clientOrderId": cid})
    raise CommandError(Code.UNKNOWN_OUTCOME, outcome.reason, {"clientOrderId": cid})
