"""Thin typed handlers of the référentiel's consumers: load, decide (pure domain), commit state + events at once."""

from __future__ import annotations

import logging
from datetime import date, timedelta
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
from platform_kit.clock import FUSEAU
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.reference import reference
from platform_kit.runtime import Runtime
from platform_kit.store import Loaded
from services.referentiel.domain import acces
from services.referentiel.domain.commun import ETAPE, Refus
from services.referentiel.domain.consultation import contexte_pds
from services.referentiel.domain.contrats import appliquer_changement_contrat
from services.referentiel.domain.releves import enregistrer_releve, titulaire_a_la_date
from services.referentiel.settings import Settings
from services.referentiel.store import ReferentielStore

log = logging.getLogger(__name__)


#: Largest demand record qualified: 2 MB attachments (2.8 MB of base64) fit, and its DemandeQualifiee (the demand
#: again plus the PDS context) stays under the bus's 4 MiB (platform_kit.topics.MAX_MESSAGE_BYTES).
TAILLE_MAX_DEMANDE = 3 * 1024 * 1024

#: A demand dated further ahead than this from its receipt is refused: the sender's clock or the message is wrong.
AVANCE_TOLEREE = timedelta(minutes=15)


def _today(ctx: HandlerContext) -> date:
    # The platform's receipt time, never the sender's `occurred_at`: a supplier cannot choose the day of a decision.
    # A redelivery may come on another day, but the demand's record (Handlers._decide) makes it a no-op.
    return ctx.received_at.astimezone(FUSEAU).date()


def _pds_de(demande: WireModel) -> str | None:
    return getattr(demande, "pds", None)


class Handlers:
    """The référentiel's message handlers, bound to its runtime, store and settings."""

    def __init__(self, rt: Runtime, store: ReferentielStore, settings: Settings) -> None:
        self.rt = rt
        self.store = store
        self.settings = settings
        self.adresse_grd = reference().grd_email

    def register(self) -> None:
        """Create the three consumers and register every handler."""
        # Every path commits an aggregate that records the demand (PDS, refus or qualification): no separate inbox.
        demandes = self.rt.consumer("demandes", DEMANDES, on_invalid=self.on_invalid, inbox=False, on_failure=self.on_failure)
        modeles: list[type[WireModel]] = [*acces.NIVEAU_REQUIS, d.DeclarationAccesV1]
        for model in modeles:
            demandes.handles(model)(self.demande)
        demandes.handles(d.DemandeSansPdsV1)(self.demande_sans_pds)
        self.rt.consumer("contrats", CONTRATS_EVENEMENTS).handles(ContratEtatChangeV1)(self.contrat_change)
        self.rt.consumer("interventions", INTERVENTIONS_EVENEMENTS).handles(InterventionStatutChangeV1)(self.intervention)

    async def on_invalid(self, env: Envelope, detail: str) -> list[Outgoing]:
        """A demand that fails its schema: one DemandeRefusee MESSAGE_INVALIDE (the kit dead-letters the original)."""
        ctx = HandlerContext(env, f"{self.settings.service_name}.demandes")
        pds = env.payload.get("pds") if isinstance(env.payload.get("pds"), str) and len(env.payload["pds"]) <= 64 else None
        await self._refuser(ctx, pds, acces.refus_message_invalide(env.type, detail))
        return []

    async def on_failure(self, ctx: HandlerContext, error: str) -> None:
        """A demand given up for good (dead-lettered after retries): its sender still gets one outcome, ERREUR_TECHNIQUE.

        Unless the demand was already applied to its PDS (a failure after that write): then its record says so.
        """
        env = ctx.envelope
        pds = env.payload.get("pds") if isinstance(env.payload.get("pds"), str) and len(env.payload["pds"]) <= 64 else None
        if pds and (await ctx.load(self.store.pds, pds)).applied(env.message_id):
            await self.rt.create(self.store.demandes, str(env.message_id), {"pds": pds, "type": env.type, "decision": "appliquee"}, ctx, [])
            return
        await self._refuser(ctx, pds, acces.refus_erreur_technique(), trace=False)

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
        await self.store.audit.record(
            acteur=env.fournisseur,
            role="fournisseur",
            action=f"{action}:{env.type}",
            pds=pds,
            niveau_detenu=detenu,
            resultat=resultat,
            detail={"niveau_revendique": revendique, "message_id": str(env.message_id)},
            cle=str(event_id(env.message_id, "audit")),  # a redelivered demand is traced once
        )

    async def _refuser(
        self, ctx: HandlerContext, pds: str | None, refus: Refus, detenu: str | None = None, revendique: str | None = None, *, trace: bool = True
    ) -> None:
        """Record the demand as refused and publish its DemandeRefusee, in one insert: if the demand has a record
        already (decided before, whatever the decision), nothing happens."""
        env = ctx.envelope
        if trace:
            await self._tracer(env, pds, "demande", revendique, detenu, f"refusee:{refus.code}")
        state = {"pds": pds, "fournisseur": env.fournisseur, "type": env.type, "decision": "refusee", "code": refus.code, "message": refus.message}
        evt = ctx.emit(self._refusee(env, pds, refus), key=pds or env.key)
        await self.rt.create(self.store.demandes, str(env.message_id), state, ctx, [evt])

    async def demande_sans_pds(self, ctx: HandlerContext, demande: d.DemandeSansPdsV1) -> None:
        """Demands without a PDS are never handled here: refuse, pointing to the GRD team's address (its reference data)."""
        await self._refuser(ctx, None, acces.refus_sans_pds(self.adresse_grd))

    async def demande(self, ctx: HandlerContext, demande: WireModel) -> None:
        """Check the acting supplier's access level on the PDS; qualify the demand or refuse it."""
        env = ctx.envelope
        pds = _pds_de(demande)
        fournisseur = env.fournisseur
        if not fournisseur:
            await self._refuser(ctx, pds, acces.refus_fournisseur_absent())
            return
        assert pds is not None
        if env.key != pds:
            # Keyed by another PDS, it sits in another partition than the PDS's other messages: no order would hold.
            await self._refuser(ctx, pds, acces.refus_cle_incoherente(env.key, pds))
            return
        taille = ctx.work.delivery.size if ctx.work.delivery is not None else -1
        if taille > TAILLE_MAX_DEMANDE:
            # Its qualification carries the demand again, with the PDS's context: it must still fit on the bus.
            await self._refuser(ctx, pds, acces.refus_trop_volumineux(taille, TAILLE_MAX_DEMANDE))
            return
        if env.occurred_at - ctx.received_at > AVANCE_TOLEREE:
            await self._refuser(ctx, pds, acces.refus_horodatage_futur(env.occurred_at, ctx.received_at))
            return
        store = self.store.pds
        loaded = await ctx.load(store, pds)
        if loaded.applied(env.message_id):
            # Applied to the PDS by an earlier delivery that stopped before recording the demand: record it now.
            await self.rt.create(self.store.demandes, str(env.message_id), {"pds": pds, "type": env.type, "decision": "appliquee"}, ctx, [])
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
            await self._appliquer_au_pds(ctx, loaded, decision, ctx.emit(accepte, key=pds), "acceptee")
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
            await self._appliquer_au_pds(ctx, loaded, qualification.state, ctx.emit(qualifiee, key=pds), "qualifiee")
            return
        # Nothing changes on the PDS: the demand's own record carries the event (a redelivery or a copy finds it there).
        etat = {"pds": pds, "fournisseur": fournisseur, "type": env.type, "decision": "qualifiee", "niveau": qualification.niveau.value}
        await self.rt.create(self.store.demandes, str(env.message_id), etat, ctx, [ctx.emit(qualifiee, key=pds)])

    async def _appliquer_au_pds(self, ctx: HandlerContext, loaded: Loaded, state: dict[str, Any], evt: Outgoing, decision: str) -> None:
        """A decision that changes the PDS: only if the demand has no record yet (a copy re-sent after its PDS's recent
        messages no longer remember it must not change the PDS again), then the PDS and its event, then the record."""
        env = ctx.envelope
        if (await ctx.load(self.store.demandes, str(env.message_id))).exists:
            return
        await self.rt.commit(self.store.pds, loaded, state, ctx, [evt])
        await self.rt.create(self.store.demandes, str(env.message_id), {"pds": loaded.id, "type": env.type, "decision": decision}, ctx, [])

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
        loaded = await ctx.load(store, evt.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        if not loaded.exists:
            log.warning("contract change on unknown PDS %s ignored", evt.pds)
            return
        state, releve = appliquer_changement_contrat(loaded.state, evt, _today(ctx), self.settings.mois_consommations)
        events: list[Outgoing] = []
        if releve is not None and evt.releve is not None and releve.partagee:
            r15 = FluxR15V1(pds=evt.pds, fournisseur=releve.titulaire, releve=evt.releve, motif=releve.motif)
            events = [ctx.emit(r15, fournisseur=releve.titulaire)]
        elif releve is not None and evt.releve is not None:
            events = self._releve_events(ctx, evt.pds, evt.releve, releve.motif, releve.titulaire, evt.reference_affaire)
        await self.store.indexer(state)
        await self.rt.commit(store, loaded, state, ctx, events)

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """Record the real reading of a completed intervention and announce it to the holder at that date."""
        if evt.statut != StatutIntervention.REALISEE or evt.releve is None:
            return
        store = self.store.pds
        loaded = await ctx.load(store, evt.pds)
        if loaded.applied(ctx.envelope.message_id) or not loaded.exists:
            return
        titulaire = titulaire_a_la_date(loaded.state, evt.releve.date_releve)
        state, ajoutee = enregistrer_releve(
            loaded.state, evt.releve, "intervention", titulaire, evt.reference_affaire, self.settings.mois_consommations
        )
        events = self._releve_events(ctx, evt.pds, evt.releve, "intervention", titulaire, evt.reference_affaire) if ajoutee else []
        await self.rt.commit(store, loaded, state, ctx, events)
