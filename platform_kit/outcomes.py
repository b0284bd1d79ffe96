"""The outcome owed to a demand the platform gave up on: one builder for every service's failure hook."""

from __future__ import annotations

import uuid

from contracts.evenements import DemandeQualifieeV1, DemandeRefuseeV1
from contracts.refus import REFUS_ERREUR_TECHNIQUE, Etape, demande_refusee
from platform_kit.messaging import FailureHook, HandlerContext
from platform_kit.ports import Aggregates, HandlerPort

#: Deprecated aliases of contracts.refus.REFUS_ERREUR_TECHNIQUE (kept while services still import them).
ERREUR_TECHNIQUE = REFUS_ERREUR_TECHNIQUE.code
MESSAGE_ERREUR_TECHNIQUE = REFUS_ERREUR_TECHNIQUE.message


def refus_technique(demande_message_id: uuid.UUID, demande_type: str, pds: str | None, etape: Etape | str) -> DemandeRefuseeV1:
    """The DemandeRefusee ERREUR_TECHNIQUE of a demand given up for good (its original is in the dead letters)."""
    return demande_refusee(demande_message_id, demande_type, pds, REFUS_ERREUR_TECHNIQUE, Etape(etape))


def failure_hook_for_qualified(kit: HandlerPort, store: Aggregates, etape: Etape | str) -> FailureHook:
    """A consumer failure hook for qualified demands: records the refusal in `store` (keyed by the demand id, one
    insert: a second failure of the same demand finds it) and publishes it from there. On the port, so a service's
    hook runs on `platform_kit.testing.MemoryKit` in unit tests."""

    async def hook(ctx: HandlerContext, error: str) -> None:
        try:
            q = DemandeQualifieeV1.model_validate(ctx.envelope.payload)
        except ValueError:
            return
        evt = refus_technique(q.demande_message_id, q.demande_type, q.contexte.pds, etape)
        state = {"demande_type": q.demande_type, "pds": q.contexte.pds, "code": ERREUR_TECHNIQUE, "erreur": error[:500]}
        await kit.create(store, str(q.demande_message_id), state, ctx, [ctx.emit(evt, key=q.contexte.pds)])

    return hook
