"""HTTP read routes of the contrats service: a supplier consults its own contracts on a PDS."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from contracts.common import EtatContrat
from platform_kit.audit import AuditJournal
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from platform_kit.vues import TOTAL, Format, paginer, reponse_csv
from services.contrats.domain import COLONNES_CONTRATS, EtatPds, contrats_visibles, vue_contrat
from services.contrats.store import contrats_du_fournisseur


def router(rt: Runtime, store: AggregateStore, journal: AuditJournal) -> APIRouter:
    """The routes, bound to the service's runtime (authentication), store and audit journal."""
    api = APIRouter(tags=["contrats"])

    @api.get("/pds/{ref}/contrats")
    async def contrats_du_pds(ref: str, principal: Principal = Depends(rt.auth)) -> dict[str, Any]:  # noqa: B008
        """The caller's contracts on a PDS (every contract for a GRD operator)."""
        loaded = await store.load(ref)
        etat = EtatPds.model_validate(loaded.state) if loaded.exists else EtatPds(pds=ref)
        visibles = etat.contrats if principal.role == OPERATEUR else contrats_visibles(etat, principal.code)
        if not visibles:
            await journal.consultation(principal, "contrats", "refusee:NON_TITULAIRE", pds=ref)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"Vous n'êtes pas titulaire d'un contrat sur le PDS {ref} : seul le titulaire consulte ses contrats.",
            )
        await journal.consultation(principal, "contrats", f"servie:{len(visibles)}", pds=ref)
        return {"pds": ref, "contrats": [vue_contrat(c) for c in visibles]}

    @api.get("/contrats")
    async def contrats_du_fournisseur_(
        principal: Annotated[Principal, Depends(rt.auth)],
        reponse: Response,
        etat: Annotated[list[EtatContrat] | None, Query(description="États retenus (plusieurs possibles).")] = None,
        pds: Annotated[str | None, Query(description="Référence complète du PDS.")] = None,
        fournisseur: Annotated[str | None, Query(description="Fournisseur consulté (opérateur GRD seulement).")] = None,
        limite: Annotated[int, Query(ge=1, le=1000)] = 100,
        saut: Annotated[int, Query(ge=0)] = 0,
        format: Format = Format.JSON,
    ) -> Any:
        """The supplier's contracts across every PDS (held, subscribing, ended), filterable, paginated, CSV."""
        code = fournisseur if principal.role == OPERATEUR else principal.code
        filtre = {"etat": [e.value for e in etat or ()], "pds": pds, "fournisseur": code, "limite": limite, "saut": saut}
        if code is None:
            await journal.consultation(principal, "contrats:liste", "refusee:FOURNISSEUR_MANQUANT", detail=filtre)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Indiquez le fournisseur consulté (paramètre fournisseur).")
        lignes = [
            li
            for li in await contrats_du_fournisseur(rt.db, code)
            if (not etat or li.get("etat") in {e.value for e in etat}) and (pds is None or li.get("pds") == pds)
        ]
        page = paginer(lignes, limite, saut)
        await journal.consultation(principal, "contrats:liste", f"servie:{len(page)}/{len(lignes)}", pds=pds, detail=filtre)
        if format == Format.CSV:
            return reponse_csv(page, COLONNES_CONTRATS, f"contrats-{code}", len(lignes))
        reponse.headers[TOTAL] = str(len(lignes))
        return {"fournisseur": code, "total": len(lignes), "saut": saut, "limite": limite, "contrats": page}

    return api
