"""HTTP read routes of the affaires: list with filters (also the annulation search) and detail with every view."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from contracts.common import StatutAffaire, TypeAffaire
from platform_kit.audit import AuditJournal
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.runtime import Runtime
from platform_kit.vues import TOTAL, Format, reponse_csv
from services.affaires.domain import Affaire
from services.affaires.settings import Settings
from services.affaires.store import AffairesStore


class AffaireResume(BaseModel):
    """One line of the affaires list."""

    reference: str = Field(description="Affaire reference.")
    type_affaire: TypeAffaire = Field(description="Type of the affaire.")
    fournisseur: str = Field(description="Supplier who asked for it.")
    pds: str = Field(description="Full PDS reference.")
    statut: StatutAffaire = Field(description="Coarse status.")
    etat: str = Field(description="Finer state.")
    express: bool = Field(description="Express affaire.")
    annulable: bool = Field(description="True while the supplier may still cancel it.")
    resume: str = Field(description="One French line describing the demand.")
    cree_le: datetime = Field(description="When it was created.")
    maj_le: datetime = Field(description="Last change.")


def resume(affaire: Affaire) -> AffaireResume:
    """The list line of an affaire."""
    return AffaireResume(
        reference=affaire.reference,
        type_affaire=affaire.type_affaire,
        fournisseur=affaire.fournisseur,
        pds=affaire.pds,
        statut=affaire.statut,
        etat=affaire.etat,
        express=affaire.express,
        annulable=affaire.annulable,
        resume=affaire.generalites.resume,
        cree_le=affaire.cree_le,
        maj_le=affaire.maj_le,
    )


def _introuvable(reference: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Affaire {reference} introuvable parmi vos affaires.")


def routes(rt: Runtime, store: AffairesStore, settings: Settings, journal: AuditJournal) -> APIRouter:
    """The router of the affaires read API; a supplier sees only its own affaires, an operator sees all; every read is audited."""
    router = APIRouter(prefix="/affaires", tags=["affaires"])
    Appelant = Annotated[Principal, Depends(rt.auth)]

    async def visible(reference: str, principal: Principal, action: str) -> Affaire:
        affaire = await store.detail(reference)
        # Another supplier's affaire answers like an absent one, so its existence is not revealed.
        if affaire is None or (principal.role != OPERATEUR and affaire.fournisseur != principal.code):
            pds = affaire.pds if affaire else None
            await journal.consultation(principal, action, "refusee:introuvable", pds=pds, detail={"reference": reference})
            raise _introuvable(reference)
        await journal.consultation(principal, action, "servie", pds=affaire.pds, detail={"reference": reference})
        return affaire

    @router.get("", response_model=list[AffaireResume], summary="Liste des affaires (filtres ; recherche d'annulation)")
    async def lister(
        principal: Appelant,
        reponse: Response,
        type_affaire: Annotated[TypeAffaire | None, Query(alias="type", description="Type d'affaire.")] = None,
        statut: Annotated[StatutAffaire | None, Query(description="Statut : en_cours, terminee, annulee.")] = None,
        pds: Annotated[str | None, Query(description="Référence complète du PDS.")] = None,
        reference: Annotated[str | None, Query(description="Référence de l'affaire.")] = None,
        annulable: Annotated[bool | None, Query(description="true : seulement les affaires encore annulables.")] = None,
        fournisseur: Annotated[str | None, Query(description="Fournisseur (opérateur GRD seulement).")] = None,
        limite: Annotated[int, Query(ge=1, le=settings.liste_limite_max, description="Taille de page.")] = 100,
        saut: Annotated[int, Query(ge=0, le=settings.liste_saut_max, description="Nombre d'affaires à sauter.")] = 0,
        format: Annotated[Format, Query(description="json (la page) ou csv (la même page, à télécharger).")] = Format.JSON,
    ) -> Any:
        filtre: dict[str, Any] = {}
        if principal.role != OPERATEUR:
            filtre["fournisseur"] = principal.code
        elif fournisseur:
            filtre["fournisseur"] = fournisseur
        if type_affaire is not None:
            filtre["type_affaire"] = type_affaire.value
        if statut is not None:
            filtre["statut"] = statut.value
        if pds:
            filtre["pds"] = pds
        if reference:
            filtre["_id"] = reference
        if annulable is not None:
            filtre["annulable"] = annulable
        if principal.role != OPERATEUR:
            # A supplier's list: served from its index documents (reads by _id), never a scan of the partitions.
            entrees, total = await store.lister_fournisseur(principal.code, filtre, limite, saut)
            lignes = [AffaireResume.model_validate(e) for e in entrees]
        else:
            lignes = [resume(a) for a in await store.lister(filtre, limite, saut)]
            total = saut + len(lignes)
        detail = {**filtre, "limite": limite, "saut": saut, "format": format.value}
        await journal.consultation(principal, "affaires:liste", f"servie:{len(lignes)}", pds=pds, detail=detail)
        if format == Format.CSV:
            return reponse_csv((ligne.model_dump(mode="json") for ligne in lignes), list(AffaireResume.model_fields), "affaires", total)
        reponse.headers[TOTAL] = str(total)
        return lignes

    @router.get("/{reference}", response_model=Affaire, summary="Détail d'une affaire avec toutes ses vues")
    async def detail(reference: str, principal: Appelant) -> Affaire:
        return await visible(reference, principal, "affaire")

    @router.get("/{reference}/piece-jointe", summary="Pièce jointe d'une réclamation")
    async def piece_jointe(reference: str, principal: Appelant) -> Response:
        affaire = await visible(reference, principal, "affaire:piece_jointe")
        info = affaire.generalites.piece_jointe
        doc = await store.piece_jointe(info.id) if info else None
        if info is None or doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"L'affaire {reference} n'a pas de pièce jointe.")
        return Response(
            bytes(doc["contenu"]),
            media_type=info.type_mime,
            headers={"Content-Disposition": f'attachment; filename="{info.nom}"'},
        )

    return router
