"""HTTP read routes of the notifications service: the e-mails sent, for GRD operators."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from platform_kit.audit import AuditJournal
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from platform_kit.vues import TOTAL, Format, reponse_csv
from services.notifications.store import mails_du_fournisseur, mails_envoyes


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


#: Templates addressed to the GRD team, not to the supplier concerned.
MODELES_INTERNES = frozenset({"demande_express"})


def router(rt: Runtime, mails: AggregateStore, journal: AuditJournal) -> APIRouter:
    """Routes: GET /mails (a supplier's own e-mails, every e-mail for an operator), audited, paginated, CSV."""
    api = APIRouter(tags=["notifications"])

    @api.get("/mails", response_model=list[MailEnvoye])
    async def lister_mails(
        principal: Annotated[Principal, Depends(rt.auth)],
        reponse: Response,
        reference_affaire: Annotated[str | None, Query(description="Only the e-mails of this affaire.")] = None,
        limite: Annotated[int, Query(ge=1, le=1000, description="Maximum number of e-mails returned.")] = 100,
        saut: Annotated[int, Query(ge=0, description="E-mails skipped (pagination).")] = 0,
        format: Annotated[Format, Query(description="json or csv.")] = Format.JSON,
        fournisseur: Annotated[str | None, Query(description="Only this supplier's e-mails (a supplier may give only its own code).")] = None,
    ) -> Any:
        """The e-mails sent, newest first: a supplier sees those sent to it about its affaires, an operator all of them."""
        filtre = {"reference_affaire": reference_affaire, "limite": limite, "saut": saut, "fournisseur": fournisseur}
        if principal.role != OPERATEUR:
            if fournisseur not in (None, principal.code):
                await journal.consultation(principal, "mails", "refusee:AUTRE_FOURNISSEUR", detail=filtre)
                raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Vous ne consultez que vos propres e-mails.")
            fournisseur = principal.code
        if fournisseur is None:
            docs = await mails_envoyes(mails, reference_affaire, saut + limite)
        else:
            # One supplier's e-mails: its index documents (reads by _id), never a scan of the mail partitions.
            docs = await mails_du_fournisseur(rt.db, fournisseur, reference_affaire)
        if principal.role != OPERATEUR:
            # The supplier's own e-mails only (the GRD team's copy of an express demand is not its mail).
            docs = [d for d in docs if d.get("fournisseur") == fournisseur and d.get("template") not in MODELES_INTERNES]
        total = len(docs) if fournisseur is not None else saut + len(docs[saut:])
        envoyes = [_vers_mail(doc) for doc in docs[saut : saut + limite]]
        await journal.consultation(principal, "mails", f"servie:{len(envoyes)}", detail=filtre)
        if format == Format.CSV:
            return reponse_csv((m.model_dump(mode="json") for m in envoyes), list(MailEnvoye.model_fields), "mails", total)
        reponse.headers[TOTAL] = str(total)
        return envoyes

    return api
