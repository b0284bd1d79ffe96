"""HTTP read routes of the notifications service: the e-mails sent, for GRD operators."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from platform_kit.auth import OPERATEUR, Principal
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from services.notifications.store import mails_envoyes


class MailEnvoye(BaseModel):
    """One recorded e-mail."""

    message_id: str = Field(description="RFC 5322 Message-ID of the e-mail.")
    status: str = Field(description="sent (handed to the relay) or refused (permanently refused by the relay).")
    recipients: list[str] = Field(description="Recipients.")
    subject: str = Field(description="Subject.")
    template: str = Field(description="Template name.")
    reference_affaire: str | None = Field(default=None, description="Affaire concerned.")
    pds: str | None = Field(default=None, description="PDS concerned.")
    fournisseur: str | None = Field(default=None, description="Supplier concerned.")
    sent_at: datetime | None = Field(default=None, description="When the relay answered.")
    error: str | None = Field(default=None, description="Relay's answer when it refused the e-mail.")


def _vers_mail(doc: dict[str, Any]) -> MailEnvoye:
    return MailEnvoye(message_id=str(doc["_id"]), **{k: doc.get(k) for k in MailEnvoye.model_fields if k != "message_id"})


def router(rt: Runtime, mails: AggregateStore) -> APIRouter:
    """Routes: GET /mails (operators only)."""
    api = APIRouter(tags=["notifications"])

    @api.get("/mails", response_model=list[MailEnvoye])
    async def lister_mails(
        principal: Annotated[Principal, Depends(rt.auth)],
        reference_affaire: Annotated[str | None, Query(description="Only the e-mails of this affaire.")] = None,
        limite: Annotated[int, Query(ge=1, le=1000, description="Maximum number of e-mails returned.")] = 100,
    ) -> list[MailEnvoye]:
        if principal.role != OPERATEUR:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Consultation réservée aux opérateurs du GRD.")
        return [_vers_mail(doc) for doc in await mails_envoyes(mails, reference_affaire, limite)]

    return api
