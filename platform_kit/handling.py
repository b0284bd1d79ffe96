"""Load → decide → commit: the one shape of a handler that changes an aggregate, on the narrow port.

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        await decide(self.kit, ctx, self.pds, evt.pds, lambda loaded: domain.suivre(lire(loaded), evt), only_existing=True)

The decide function is pure (its answers are the types of `platform_kit.decision`): it gets the loaded aggregate and
returns `Decided(new state, events)`, a `Refus` (the demand is refused: the aggregate records the message, its
state unchanged, and the DemandeRefusee built by the one builder is published) or None (nothing to do: no write). A
message already applied to the aggregate is not decided again. A concurrent write raises ConcurrencyConflict from
the commit: the consumer runs the handler again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from contracts.base import WireModel
from contracts.refus import Refus
from platform_kit.decision import SAME, Emission, Outcome, Refusal, Verdict
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.store import ConcurrencyConflict, Loaded

Decide = Callable[[Loaded], Verdict]
Hook = Callable[[str, dict[str, Any]], Awaitable[None]]


def emissions(ctx: HandlerContext, events: Sequence[WireModel | Emission]) -> list[Outgoing]:
    """The envelopes of a decision's events, caused by the message being handled (ids derived from it)."""
    out: list[Outgoing] = []
    for event in events:
        if isinstance(event, Emission):
            if event.fournisseur is SAME:
                out.append(ctx.emit(event.payload, key=event.key))
            else:
                out.append(ctx.emit(event.payload, key=event.key, fournisseur=event.fournisseur))
        else:
            out.append(ctx.emit(event))
    return out


async def decide(
    kit: HandlerPort,
    ctx: HandlerContext,
    store: Aggregates,
    aggregate_id: str,
    decide_fn: Decide,
    *,
    refusal: Refusal | None = None,
    initial: Callable[[], dict[str, Any]] | None = None,
    only_existing: bool = False,
    before_commit: Hook | None = None,
    after_commit: Hook | None = None,
) -> Outcome:
    """Load the aggregate, decide, commit: the new state and its events, or the refusal, with the message's mark.

    `refusal` turns a Refus into the event to publish (e.g. `refusal_of(q, Etape.CONTRATS)`; required when the
    decide function may refuse). `initial`: the state an absent aggregate starts from (what decide sees, and what a
    refusal records). `only_existing`: an absent aggregate is not our concern (no decision). `before_commit` /
    `after_commit(aggregate_id, state)`: idempotent side writes (a listing index, an agenda) around the commit.
    """
    loaded = await ctx.load(store, aggregate_id)
    if loaded.applied(ctx.envelope.message_id):
        return Outcome.ALREADY_APPLIED
    if not loaded.exists:
        if only_existing:
            return Outcome.ABSENT
        if initial is not None:
            loaded = dataclasses.replace(loaded, state=initial())
    verdict = decide_fn(loaded)
    if verdict is None:
        return Outcome.NOTHING
    if isinstance(verdict, Refus):
        if refusal is None:
            raise TypeError(f"the decision on {aggregate_id} refused ({verdict.code}) but the handler gave no `refusal` builder")
        state, events, outcome = dict(loaded.state), [ctx.emit(refusal(verdict))], Outcome.REFUSED
    else:
        state, events, outcome = dict(verdict.state), emissions(ctx, verdict.events), Outcome.COMMITTED
    if before_commit is not None:
        await before_commit(aggregate_id, state)
    await kit.commit(store, loaded, state, ctx, events)
    if after_commit is not None:
        await after_commit(aggregate_id, state)
    return outcome


async def refuse_once(kit: HandlerPort, ctx: HandlerContext, store: Aggregates, record_id: str, event: WireModel, **record: Any) -> bool:
    """Record a refusal in its own document (`record_id`: the demand's id) and publish `event`, in one insert.

    For refusals that belong to no aggregate (an unreadable demand, a demand given up, a refusal store): once a
    record exists for `record_id` (this message's or an earlier one's), nothing is written or published and the
    result is False. `record` is stored beside the event's code, message, pds and demande_type.
    """
    state = {**{k: getattr(event, k) for k in ("code", "message", "pds", "demande_type") if hasattr(event, k)}, **record}
    try:
        return await kit.create(store, record_id, state, ctx, [ctx.emit(event)])
    except ConcurrencyConflict:
        if (await ctx.load(store, record_id)).exists:
            return False
        raise
