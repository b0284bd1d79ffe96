"""Thin typed handlers of the référentiel's consumers: load, decide (pure domain), commit state + events at once."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from contracts import demandes as d
from contracts.base import WireModel
from contracts.common import StatutIntervention
from contracts.envelope import Envelope
from contracts.evenements import (
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    FluxR15V1,
    InterventionStatutChangeV1,
    ReleveEnregistreeV1,
)
from contracts.references import event_id
from contracts.topics import CONTRATS_EVENEMENTS, DEMANDES, INTERVENTIONS_EVENEMENTS
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.runtime import Runtime
from services.referentiel.domain import acces
from services.referentiel.domain.commun import ETAPE, Refus
from services.referentiel.domain.consultation import contexte_pds
from services.referentiel.domain.contrats import appliquer_changement_contrat
from services.referentiel.domain.releves import enregistrer_releve, titulaire_a_la_date
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore, maintenant

log = logging.getLogger(__name__)


def _today(ctx: HandlerContext) -> date:
    # The message's own date, not the clock: a replay decides exactly as the first delivery did.
    return ctx.envelope.occurred_at.date()


def _pds_de(demande: WireModel) -> str | None:
    return getattr(demande, "pds", None)


class Handlers:
    """The référentiel's message handlers, bound to its runtime, store and settings."""

    def __init__(self, rt: Runtime, store: ReferentielStore, settings: Settings) -> None:
        self.rt = rt
        self.store = store
        self.settings = settings

    def register(self) -> None:
        """Create the three consumers and register every handler."""
        # Every path commits an aggregate that records the demand (PDS, refus or qualification): no separate inbox.
        demandes = self.rt.consumer("demandes", DEMANDES, on_invalid=self.on_invalid, inbox=False)
        modeles: list[type[WireModel]] = [*acces.NIVEAU_REQUIS, d.DeclarationAccesV1]
        for model in modeles:
            demandes.handles(model)(self.demande)
        demandes.handles(d.DemandeSansPdsV1)(self.demande_sans_pds)
        self.rt.consumer("contrats", CONTRATS_EVENEMENTS).handles(ContratEtatChangeV1)(self.contrat_change)
        self.rt.consumer("interventions", INTERVENTIONS_EVENEMENTS).handles(InterventionStatutChangeV1)(self.intervention)

    async def on_invalid(self, env: Envelope, detail: str) -> list[Outgoing]:
        """A demand that fails its schema: one DemandeRefusee MESSAGE_INVALIDE (the kit dead-letters the original)."""
        refus = acces.refus_message_invalide(env.type, detail)
        ctx = HandlerContext(env, f"{self.settings.service_name}.demandes")
        pds = env.payload.get("pds") if isinstance(env.payload.get("pds"), str) else None
        await self._tracer(env, pds, "demande", None, None, f"refusee:{refus.code}")
        return [ctx.emit(self._refusee(env, pds, refus))]

    @staticmethod
    def _refusee(env: Envelope, pds: str | None, refus: Refus) -> DemandeRefuseeV1:
        return DemandeRefuseeV1(
            demande_message_id=env.message_id,
            demande_type=env.type,
            pds=pds,
            code=refus.code,
            message=refus.message,
            etape=ETAPE,
        )

    async def _tracer(self, env: Envelope, pds: str | None, action: str, revendique: str | None, detenu: str | None, resultat: str) -> None:
        await self.store.tracer(
            {
                "_id": str(event_id(env.message_id, "audit")),
                "horodatage": maintenant(),
                "acteur": env.fournisseur,
                "role": "fournisseur",
                "action": f"{action}:{env.type}",
                "pds": pds,
                "niveau_revendique": revendique,
                "niveau_detenu": detenu,
                "resultat": resultat,
                "message_id": str(env.message_id),
            }
        )

    async def _refuser(self, ctx: HandlerContext, pds: str | None, refus: Refus, detenu: str | None = None, revendique: str | None = None) -> None:
        env = ctx.envelope
        await self._tracer(env, pds, "demande", revendique, detenu, f"refusee:{refus.code}")
        loaded = await self.store.refus.load(str(env.message_id))
        if loaded.applied(env.message_id):
            return
        state = {"pds": pds, "fournisseur": env.fournisseur, "type": env.type, "code": refus.code, "message": refus.message}
        await self.rt.commit(self.store.refus, loaded, state, ctx, [ctx.emit(self._refusee(env, pds, refus))])

    async def demande_sans_pds(self, ctx: HandlerContext, demande: d.DemandeSansPdsV1) -> None:
        """Demands without a PDS are never handled here: refuse, pointing to the GRD's e-mail channel."""
        await self._refuser(ctx, None, acces.refus_sans_pds())

    async def demande(self, ctx: HandlerContext, demande: WireModel) -> None:
        """Check the acting supplier's access level on the PDS; qualify the demand or refuse it."""
        env = ctx.envelope
        pds = _pds_de(demande)
        fournisseur = env.fournisseur
        if not fournisseur:
            await self._refuser(ctx, pds, acces.refus_fournisseur_absent())
            return
        assert pds is not None
        store = self.store.pds
        loaded = await store.load(pds)
        if loaded.applied(env.message_id):
            return
        if not loaded.exists:
            await self._refuser(ctx, pds, acces.refus_pds_inconnu(pds))
            return
        today = _today(ctx)
        detenu = acces.niveau_acces(loaded.state, fournisseur)
        if isinstance(demande, d.DeclarationAccesV1):
            decision = acces.declarer_acces(loaded.state, fournisseur, demande, today)
            if isinstance(decision, Refus):
                await self._refuser(ctx, pds, decision, detenu.value, demande.niveau.value)
                return
            await self._tracer(env, pds, "declaration", demande.niveau.value, detenu.value, "acceptee")
            accepte = DemandeAccepteeV1(
                demande_message_id=env.message_id,
                demande_type=env.type,
                reference_affaire=None,
                pds=pds,
                message=f"Votre déclaration d'accès « {demande.niveau.value} » sur le PDS {pds} est enregistrée.",
            )
            await self.rt.commit(store, loaded, decision, ctx, [ctx.emit(accepte)])
            return
        qualification = acces.qualifier_demande(loaded.state, fournisseur, demande, today)
        revendique = acces.NIVEAU_REQUIS[type(demande)].value
        if isinstance(qualification, Refus):
            await self._refuser(ctx, pds, qualification, detenu.value, revendique)
            return
        await self._tracer(env, pds, "demande", revendique, qualification.niveau.value, "qualifiee")
        qualifiee = DemandeQualifieeV1(
            demande_message_id=env.message_id,
            demande_type=env.type,
            demande=demande.model_dump(mode="json"),
            niveau_acces=qualification.niveau,
            contexte=contexte_pds(qualification.state),
        )
        if qualification.state != loaded.state:
            await self.rt.commit(store, loaded, qualification.state, ctx, [ctx.emit(qualifiee)])
            return
        # Nothing changes on the PDS: the demand's own small document carries the event (a redelivery finds it there).
        etat = {"pds": pds, "fournisseur": fournisseur, "type": env.type, "niveau": qualification.niveau.value}
        await self.rt.create(self.store.qualifications, str(env.message_id), etat, ctx, [ctx.emit(qualifiee)])

    def _releve_events(self, ctx: HandlerContext, pds: str, releve: Any, motif: str, titulaire: str | None, affaire: str | None) -> list[Outgoing]:
        return [
            ctx.emit(
                ReleveEnregistreeV1(pds=pds, releve=releve, motif=motif, titulaire=titulaire, reference_affaire=affaire),
                fournisseur=titulaire,
            ),
            ctx.emit(FluxR15V1(pds=pds, fournisseur=titulaire, releve=releve, motif=motif), fournisseur=titulaire),
        ]

    async def contrat_change(self, ctx: HandlerContext, evt: ContratEtatChangeV1) -> None:
        """Follow a contract's state on the PDS: holders, état, occupant, and the reading it carries."""
        store = self.store.pds
        loaded = await store.load(evt.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        if not loaded.exists:
            log.warning("contract change on unknown PDS %s ignored", evt.pds)
            return
        state, releve = appliquer_changement_contrat(loaded.state, evt, _today(ctx), self.settings.mois_consommations)
        events: list[Outgoing] = []
        if releve is not None and evt.releve is not None:
            events = self._releve_events(ctx, evt.pds, evt.releve, releve.motif, releve.titulaire, evt.reference_affaire)
        await self.store.indexer(state)
        await self.rt.commit(store, loaded, state, ctx, events)

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """Record the real reading of a completed intervention and announce it to the holder at that date."""
        if evt.statut != StatutIntervention.REALISEE or evt.releve is None:
            return
        store = self.store.pds
        loaded = await store.load(evt.pds)
        if loaded.applied(ctx.envelope.message_id) or not loaded.exists:
            return
        titulaire = titulaire_a_la_date(loaded.state, evt.releve.date_releve)
        state, ajoutee = enregistrer_releve(
            loaded.state, evt.releve, "intervention", titulaire, evt.reference_affaire, self.settings.mois_consommations
        )
        events = self._releve_events(ctx, evt.pds, evt.releve, "intervention", titulaire, evt.reference_affaire) if ajoutee else []
        await self.rt.commit(store, loaded, state, ctx, events)
