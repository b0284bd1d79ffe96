"""The outcome owed to a demand the platform gave up on: one builder for every service's failure hook."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from contracts.evenements import DemandeQualifieeV1, DemandeRefuseeV1
from platform_kit.messaging import FailureHook, HandlerContext
from platform_kit.store import AggregateStore

if TYPE_CHECKING:
    from platform_kit.runtime import Runtime

ERREUR_TECHNIQUE = "ERREUR_TECHNIQUE"
MESSAGE_ERREUR_TECHNIQUE = (
    "Votre demande n'a pas pu être traitée à la suite d'une erreur technique du GRD ; elle a été mise de côté pour "
    "analyse. Renvoyez-la sous un nouvel identifiant si le GRD ne vous recontacte pas."
)


def refus_technique(demande_message_id: uuid.UUID, demande_type: str, pds: str | None, etape: str) -> DemandeRefuseeV1:
    """The DemandeRefusee ERREUR_TECHNIQUE of a demand given up for good (its original is in the dead letters)."""
    return DemandeRefuseeV1(
        demande_message_id=demande_message_id,
        demande_type=demande_type,
        pds=pds,
        code=ERREUR_TECHNIQUE,
        message=MESSAGE_ERREUR_TECHNIQUE,
        etape=etape,
    )


def failure_hook_for_qualified(rt: Runtime, store: AggregateStore, etape: str) -> FailureHook:
    """A consumer failure hook for qualified demands: records the refusal in `store` (keyed by the demand id, one
    insert: a second failure of the same demand finds it) and publishes it from there."""

    async def hook(ctx: HandlerContext, error: str) -> None:
        try:
            q = DemandeQualifieeV1.model_validate(ctx.envelope.payload)
        except ValueError:
            return
        evt = refus_technique(q.demande_message_id, q.demande_type, q.contexte.pds, etape)
        state = {"demande_type": q.demande_type, "pds": q.contexte.pds, "code": ERREUR_TECHNIQUE, "erreur": error[:500]}
        await rt.create(store, str(q.demande_message_id), state, ctx, [ctx.emit(evt, key=q.contexte.pds)])

    return hook
