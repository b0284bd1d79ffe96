"""HTTP read routes of the référentiel: PDS search, dossier consultation by access level, audit for GRD operators."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse

from contracts.common import NiveauAcces
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.runtime import Runtime
from services.referentiel.domain import acces
from services.referentiel.domain.commun import Refus
from services.referentiel.domain.consultation import Vue, dossier
from services.referentiel.domain.recherche import ParReference, correspond, entree_index, valider_recherche
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore, maintenant


def _erreur(statut: int, refus: Refus) -> JSONResponse:
    return JSONResponse(status_code=statut, content={"code": refus.code, "message": refus.message})


def build_router(rt: Runtime, store: ReferentielStore, settings: Settings) -> APIRouter:
    """The référentiel's routes, authenticated by HTTP Basic (a supplier only ever acts as itself)."""
    router = APIRouter(tags=["referentiel"])
    Appelant = Annotated[Principal, Depends(rt.auth)]

    async def tracer(principal: Principal, action: str, pds: str | None, niveau: str | None, resultat: str, detail: Any = None) -> None:
        await store.tracer(
            {
                "_id": str(uuid.uuid4()),
                "horodatage": maintenant(),
                "acteur": principal.code,
                "role": principal.role,
                "action": action,
                "pds": pds,
                "niveau_detenu": niveau,
                "resultat": resultat,
                "detail": detail,
            }
        )

    def fournisseur_de(principal: Principal) -> str | None:
        return None if principal.role == OPERATEUR else principal.code

    @router.get("/pds/recherche")
    async def rechercher(
        principal: Appelant,
        reference: str | None = None,
        numero: str | None = None,
        voie: str | None = None,
        code_postal: str | None = None,
        commune: str | None = None,
        complement: str | None = None,
        compteur: str | None = None,
        nom: str | None = None,
        prenom: str | None = None,
        titulaire_contrat: bool = False,
    ) -> Any:
        """Find PDS by full reference, full address + meter, full address + (previous) occupant, or holder's address."""
        params = {
            "reference": reference, "numero": numero, "voie": voie, "code_postal": code_postal, "commune": commune,
            "complement": complement, "compteur": compteur, "nom": nom, "prenom": prenom,
        }  # fmt: skip
        criteres = {k: v for k, v in params.items() if v}
        critere = valider_recherche(params, titulaire_contrat)
        if isinstance(critere, Refus):
            await tracer(principal, "recherche", reference, None, f"refusee:{critere.code}", criteres)
            return _erreur(400, critere)
        if isinstance(critere, ParReference):
            loaded = await store.charger(critere.reference)
            entrees = [entree_index(loaded.state)] if loaded.exists else []
        else:
            entrees = await store.entrees_a_l_adresse(critere.cle_adresse)
        fournisseur = fournisseur_de(principal)
        trouves = [e for e in entrees if correspond(e, critere, fournisseur)][: settings.recherche_max_resultats]
        resultats = [{k: e[k] for k in ("reference", "adresse", "etat", "niveau_tension") if k in e} for e in trouves]
        refs = [r["reference"] for r in resultats]
        trace_pds = reference or (refs[0] if len(refs) == 1 else None)
        await tracer(principal, "recherche", trace_pds, None, f"servie:{len(resultats)}", {**criteres, "resultats": refs})
        return {"resultats": resultats, "nombre": len(resultats)}

    @router.get("/pds/{reference}/dossier")
    async def consulter(principal: Appelant, reference: str, vue: Vue | None = None) -> Any:
        """The dossier EDL of a PDS, served at the caller's access level and containing nothing above it."""
        loaded = await store.charger(reference)
        if not loaded.exists:
            await tracer(principal, "consultation", reference, None, "refusee:PDS_INCONNU")
            return _erreur(404, acces.refus_pds_inconnu(reference))
        fournisseur = fournisseur_de(principal)
        niveau = NiveauAcces.TITULAIRE if fournisseur is None else acces.niveau_acces(loaded.state, fournisseur)
        vues = (vue,) if vue else tuple(Vue)
        reponse = dossier(loaded.state, niveau, fournisseur, vues)
        if fournisseur is None:
            reponse["niveau_acces"] = "operateur_grd"
        await tracer(principal, f"consultation:{'+'.join(v.value for v in vues)}", reference, reponse["niveau_acces"], "servie")
        return reponse

    @router.get("/audit")
    async def audit(
        principal: Appelant,
        pds: str | None = None,
        fournisseur: str | None = None,
        limite: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> Any:
        """Who consulted or asked what, when, at which level, with which outcome: GRD operators only."""
        if principal.role != OPERATEUR:
            raise HTTPException(403, detail="Le journal d'audit est réservé aux opérateurs du GRD.")
        entrees = await store.journal(pds, fournisseur, min(limite, settings.audit_max_resultats))
        return {"entrees": entrees, "nombre": len(entrees)}

    return router
