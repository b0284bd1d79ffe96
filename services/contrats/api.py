"""HTTP read routes of the contrats service: a supplier consults its own contracts on a PDS."""

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status

from platform_kit.auth import OPERATEUR, Principal
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore
from services.contrats.domain import EtatPds, contrats_visibles, vue_contrat


def router(rt: Runtime, store: AggregateStore) -> APIRouter:
    """The routes, bound to the service's runtime (authentication) and store."""
    api = APIRouter(tags=["contrats"])

    @api.get("/pds/{ref}/contrats")
    async def contrats_du_pds(ref: str, principal: Principal = Depends(rt.auth)) -> dict[str, Any]:  # noqa: B008
        """The caller's contracts on a PDS (every contract for a GRD operator)."""
        loaded = await store.load(ref)
        etat = EtatPds.model_validate(loaded.state) if loaded.exists else EtatPds(pds=ref)
        visibles = etat.contrats if principal.role == OPERATEUR else contrats_visibles(etat, principal.code)
        if not visibles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"Vous n'êtes pas titulaire d'un contrat sur le PDS {ref} : seul le titulaire consulte ses contrats.",
            )
        return {"pds": ref, "contrats": [vue_contrat(c) for c in visibles]}

    return api
