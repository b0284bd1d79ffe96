"""HTTP read routes of the référentiel: PDS search, dossier consultation by access level, audit for GRD operators."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from contracts.common import NiveauAcces
from contracts.refus import CodeRefus, Refus
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.reference import reference as reference_grd
from platform_kit.runtime import Runtime
from platform_kit.vues import TOTAL, Format, paginer, reponse_csv
from services.referentiel.domain import acces
from services.referentiel.domain.consultation import Vue, dossier
from services.referentiel.domain.listes import listes_de_reference
from services.referentiel.domain.perimetre import COLONNES, STATUTS, FiltrePerimetre, filtrer
from services.referentiel.domain.recherche import ParReference, correspond, entree_index, valider_recherche
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore


def _erreur(statut: int, refus: Refus) -> JSONResponse:
    return JSONResponse(status_code=statut, content={"code": refus.code.value, "message": refus.message})


def build_router(rt: Runtime, store: ReferentielStore, settings: Settings) -> APIRouter:
    """The référentiel's routes, authenticated by HTTP Basic (a supplier only ever acts as itself)."""
    router = APIRouter(tags=["referentiel"])
    Appelant = Annotated[Principal, Depends(rt.auth)]
    res_par_segment = reference_grd().res_par_segment()

    async def tracer(principal: Principal, action: str, pds: str | None, niveau: str | None, resultat: str, detail: Any = None) -> None:
        await store.audit.consultation(principal, action, resultat, pds=pds, niveau=niveau, detail=detail)

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
        fournisseur = fournisseur_de(principal)
        if titulaire_contrat and fournisseur is not None and isinstance(critere, Refus) and critere.code != CodeRefus.CARACTERE_JOKER_INTERDIT:
            # « titulaire d'un contrat »: every PDS the supplier was, is or is becoming titulaire of, « sans les conditions
            # de critères » (no complete address, no meter, no occupant): served from its perimeter index.
            filtre = FiltrePerimetre(commune=commune, code_postal=code_postal, voie=voie, numero=numero)
            lignes = filtrer(await store.perimetre(fournisseur), filtre, rt.today())[: settings.recherche_max_resultats]
            portees = [{"reference": li.reference, "adresse": li.adresse, "etat": li.etat, "statut": li.statut} for li in lignes]
            detail = {**criteres, "resultats": [li.reference for li in lignes]}
            await tracer(principal, "recherche:titulaire_contrat", None, None, f"servie:{len(portees)}", detail)
            return {"resultats": portees, "nombre": len(portees)}
        if isinstance(critere, Refus):
            await tracer(principal, "recherche", reference, None, f"refusee:{critere.code}", criteres)
            return _erreur(400, critere)
        if isinstance(critere, ParReference):
            loaded = await store.charger(critere.reference)
            entrees = [entree_index(loaded.state)] if loaded.exists else []
        else:
            entrees = await store.entrees_a_l_adresse(critere.cle_adresse)
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
        filtre = {"pds": pds, "fournisseur": fournisseur}
        if principal.role != OPERATEUR:
            await tracer(principal, "audit", pds, None, "refusee:RESERVE_OPERATEUR", filtre)
            raise HTTPException(403, detail="Le journal d'audit est réservé aux opérateurs du GRD.")
        entrees = await store.audit.entries(pds, fournisseur, min(limite, settings.audit_max_resultats))
        await tracer(principal, "audit", pds, None, f"servie:{len(entrees)}", filtre)
        return {"entrees": entrees, "nombre": len(entrees)}

    @router.get("/perimetre")
    async def perimetre(
        principal: Appelant,
        reponse: Response,
        commune: str | None = None,
        code_postal: str | None = None,
        voie: str | None = None,
        numero: str | None = None,
        statut: Annotated[list[str] | None, Query(description="titulaire, entrant, sortant, ancien (plusieurs possibles).")] = None,
        fournisseur: Annotated[str | None, Query(description="Fournisseur consulté (opérateur GRD seulement).")] = None,
        limite: Annotated[int, Query(ge=1, le=1000)] = 100,
        saut: Annotated[int, Query(ge=0)] = 0,
        format: Format = Format.JSON,
    ) -> Any:
        """The supplier's perimeter: PDS it holds, is entering or leaving, or held, with dates; filterable, paginated, CSV."""
        code = fournisseur_de(principal) or fournisseur
        filtre = {"commune": commune, "code_postal": code_postal, "voie": voie, "numero": numero, "statut": statut, "fournisseur": code}
        if code is None:
            await tracer(principal, "perimetre", None, None, "refusee:FOURNISSEUR_MANQUANT", filtre)
            raise HTTPException(400, detail="Indiquez le fournisseur dont le périmètre est consulté (paramètre fournisseur).")
        inconnus = sorted(set(statut or ()) - set(STATUTS))
        if inconnus:
            await tracer(principal, "perimetre", None, None, "refusee:STATUT_INCONNU", filtre)
            raise HTTPException(400, detail=f"Statut(s) inconnu(s) : {', '.join(inconnus)} (attendus : {', '.join(STATUTS)}).")
        criteres = FiltrePerimetre(commune=commune, code_postal=code_postal, voie=voie, numero=numero, statuts=tuple(statut or ()))
        lignes = filtrer(await store.perimetre(code), criteres, rt.today())
        page = [ligne.as_dict() for ligne in paginer(lignes, limite, saut)]
        await tracer(principal, "perimetre", None, None, f"servie:{len(page)}/{len(lignes)}", {**filtre, "limite": limite, "saut": saut})
        if format == Format.CSV:
            return reponse_csv(page, COLONNES, f"perimetre-{code}", len(lignes))
        reponse.headers[TOTAL] = str(len(lignes))
        return {"fournisseur": code, "total": len(lignes), "saut": saut, "limite": limite, "lignes": page}

    @router.get("/listes")
    async def listes(principal: Appelant) -> Any:
        """The reference lists a demand form needs: REs by segment, sous-types, motifs, services, usages, demand types, slot modes."""
        await tracer(principal, "listes", None, None, "servie")
        return listes_de_reference(res_par_segment)

    return router
