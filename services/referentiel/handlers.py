"""Thin typed handlers of the référentiel's consumers: load, decide (pure domain), commit state + events at once.

They depend on the narrow port (`HandlerPort`, `Aggregates`, the audit `Journal`, the address `Indexer`), not on the
Runtime: `tests/unit/test_referentiel_handlers.py` runs them on `platform_kit.testing`'s in-memory kit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from contracts import demandes as d
from contracts.base import WireModel
from contracts.common import MotifReleve, StatutIntervention
from contracts.envelope import Envelope
from contracts.evenements import (
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    FluxR15V1,
    InterventionStatutChangeV1,
    ReleveEnregistreeV1,
)
from contracts.references import event_id
from contracts.refus import REFUS_ERREUR_TECHNIQUE, Etape, Refus, demande_refusee
from contracts.topics import CONTRATS_EVENEMENTS, DEMANDES, INTERVENTIONS_EVENEMENTS
from platform_kit.decision import Decided, Emission, Outcome
from platform_kit.handling import decide
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.ports import Aggregates, HandlerPort, Journal
from platform_kit.runtime import Runtime
from platform_kit.store import Loaded
from services.referentiel.domain import acces
from services.referentiel.domain.commun import State
from services.referentiel.domain.consultation import contexte_pds
from services.referentiel.domain.contrats import appliquer_changement_contrat
from services.referentiel.domain.releves import enregistrer_releve, titulaire_a_la_date

log = logging.getLogger(__name__)


#: Largest demand record qualified: 2 MB attachments (2.8 MB of base64) fit, and its DemandeQualifiee (the demand
#: again plus the PDS context) stays under the bus's 4 MiB (platform_kit.topics.MAX_MESSAGE_BYTES).
TAILLE_MAX_DEMANDE = 3 * 1024 * 1024

#: A demand dated further ahead than this from its receipt is refused: the sender's clock or the message is wrong.
AVANCE_TOLEREE = timedelta(minutes=15)


#: Writes a PDS's entries in the suppliers' perimeters and the address index (ReferentielStore.indexer; idempotent).
Indexer = Callable[[State], Awaitable[None]]


def _pds_de(demande: WireModel) -> str | None:
    return getattr(demande, "pds", None)


def _pds_lisible(env: Envelope) -> str | None:
    pds = env.payload.get("pds")
    return pds if isinstance(pds, str) and len(pds) <= 64 else None


class Handlers:
    """The référentiel's message handlers, on the handler port: the PDS aggregates, the demands' records, the audit."""

    def __init__(
        self,
        kit: HandlerPort,
        pds: Aggregates,
        demandes: Aggregates,
        journal: Journal,
        indexer: Indexer,
        *,
        adresse_grd: str,
        mois_consommations: int,
        service_name: str = "referentiel",
    ) -> None:
        self.kit = kit
        self.pds = pds
        # One small record per demand received, keyed by its message id (ReferentielStore.demandes): see _refuser.
        self.demandes = demandes
        self.journal = journal
        self.indexer = indexer
        self.adresse_grd = adresse_grd
        self.mois_consommations = mois_consommations
        self.service_name = service_name

    def register(self, rt: Runtime) -> None:
        """Create the three consumers and register every handler."""
        # Every path commits an aggregate that records the demand (PDS, refus or qualification): no separate inbox.
        demandes = rt.consumer("demandes", DEMANDES, on_invalid=self.on_invalid, inbox=False, on_failure=self.on_failure)
        modeles: list[type[WireModel]] = [*acces.NIVEAU_REQUIS, d.DeclarationAccesV1]
        for model in modeles:
            demandes.handles(model)(self.demande)
        demandes.handles(d.DemandeSansPdsV1)(self.demande_sans_pds)
        rt.consumer("contrats", CONTRATS_EVENEMENTS).handles(ContratEtatChangeV1)(self.contrat_change)
        rt.consumer("interventions", INTERVENTIONS_EVENEMENTS).handles(InterventionStatutChangeV1)(self.intervention)

    async def on_invalid(self, env: Envelope, detail: str) -> list[Outgoing]:
        """A demand that fails its schema: one DemandeRefusee MESSAGE_INVALIDE (the kit dead-letters the original)."""
        ctx = HandlerContext(env, f"{self.service_name}.demandes", received_at=self.kit.now())
        await self._refuser(ctx, _pds_lisible(env), acces.refus_message_invalide(env.type, detail))
        return []

    async def on_failure(self, ctx: HandlerContext, error: str) -> None:
        """A demand given up for good (dead-lettered after retries): its sender still gets one outcome, ERREUR_TECHNIQUE.

        Unless the demand was already applied to its PDS (a failure after that write): then its record says so.
        """
        env = ctx.envelope
        pds = _pds_lisible(env)
        if pds and (await ctx.load(self.pds, pds)).applied(env.message_id):
            await self._noter_appliquee(ctx, pds)
            return
        await self._refuser(ctx, pds, REFUS_ERREUR_TECHNIQUE, trace=False)

    async def _noter_appliquee(self, ctx: HandlerContext, pds: str) -> None:
        """Record a demand already applied to its PDS (an earlier delivery stopped before recording it)."""
        env = ctx.envelope
        await self.kit.create(self.demandes, str(env.message_id), {"pds": pds, "type": env.type, "decision": "appliquee"}, ctx, [])

    async def _tracer(self, env: Envelope, pds: str | None, action: str, revendique: str | None, detenu: str | None, resultat: str) -> None:
        await self.journal.record(
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
        already (decided before, whatever the decision), nothing happens.

        Not `handling.refuse_once`: the outcome is keyed by the demand's PDS (a demand keyed by another PDS is refused
        CLE_INCOHERENTE, and its outcome still goes with the PDS's messages), and the record has the référentiel's fields.
        """
        env = ctx.envelope
        if trace:
            await self._tracer(env, pds, "demande", revendique, detenu, f"refusee:{refus.code}")
        code = refus.code.value
        state = {"pds": pds, "fournisseur": env.fournisseur, "type": env.type, "decision": "refusee", "code": code, "message": refus.message}
        evt = ctx.emit(demande_refusee(env.message_id, env.type, pds, refus, Etape.REFERENTIEL), key=pds or env.key)
        await self.kit.create(self.demandes, str(env.message_id), state, ctx, [evt])

    async def demande_sans_pds(self, ctx: HandlerContext, demande: d.DemandeSansPdsV1) -> None:
        """Demands without a PDS are never handled here: refuse, pointing to the GRD team's address (its reference data)."""
        await self._refuser(ctx, None, acces.refus_sans_pds(self.adresse_grd))

    async def demande(self, ctx: HandlerContext, demande: WireModel) -> None:
        """Check the acting supplier's access level on the PDS; qualify the demand or refuse it.

        Not `handling.decide`: a decision writes up to two aggregates (the PDS, the demand's record) and one that
        leaves the PDS unchanged writes only the record (see _appliquer_au_pds).
        """
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
        loaded = await ctx.load(self.pds, pds)
        if loaded.applied(env.message_id):
            # Applied to the PDS by an earlier delivery that stopped before recording the demand: record it now.
            await self._noter_appliquee(ctx, pds)
            return
        if not loaded.exists:
            await self._refuser(ctx, pds, acces.refus_pds_inconnu(pds))
            return
        # The day the platform received the demand (its clock), never the sender's `occurred_at`: a supplier cannot
        # choose the day of a decision, and a retry after midnight decides as on receipt. A redelivery may come on
        # another day, but the demand's record (_refuser, _appliquer_au_pds) makes it a no-op.
        today = self.kit.day_of(ctx.received_at)
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
        await self.kit.create(self.demandes, str(env.message_id), etat, ctx, [ctx.emit(qualifiee, key=pds)])

    async def _appliquer_au_pds(self, ctx: HandlerContext, loaded: Loaded, state: dict[str, Any], evt: Outgoing, decision: str) -> None:
        """A decision that changes the PDS: only if the demand has no record yet (a copy re-sent after its PDS's recent
        messages no longer remember it must not change the PDS again), then the PDS and its event, then the record."""
        env = ctx.envelope
        if (await ctx.load(self.demandes, str(env.message_id))).exists:
            return
        await self.kit.commit(self.pds, loaded, state, ctx, [evt])
        await self.kit.create(self.demandes, str(env.message_id), {"pds": loaded.id, "type": env.type, "decision": decision}, ctx, [])

    @staticmethod
    def _releve_events(pds: str, releve: Any, motif: MotifReleve, titulaire: str | None, affaire: str | None) -> list[Emission]:
        return [
            Emission(ReleveEnregistreeV1(pds=pds, releve=releve, motif=motif, titulaire=titulaire, reference_affaire=affaire), fournisseur=titulaire),
            Emission(FluxR15V1(pds=pds, fournisseur=titulaire, releve=releve, motif=motif), fournisseur=titulaire),
        ]

    async def contrat_change(self, ctx: HandlerContext, evt: ContratEtatChangeV1) -> None:
        """Follow a contract's state on the PDS: holders, état, occupant, and the reading it carries."""

        def suivre(loaded: Loaded) -> Decided:
            state, releve = appliquer_changement_contrat(loaded.state, evt, self.kit.today(), self.mois_consommations)
            events: list[Emission] = []
            if releve is not None and evt.releve is not None and releve.partagee:
                r15 = FluxR15V1(pds=evt.pds, fournisseur=releve.titulaire, releve=evt.releve, motif=releve.motif)
                events = [Emission(r15, fournisseur=releve.titulaire)]
            elif releve is not None and evt.releve is not None:
                events = self._releve_events(evt.pds, evt.releve, releve.motif, releve.titulaire, evt.reference_affaire)
            return Decided(state, events)

        async def indexer(_pds: str, state: dict[str, Any]) -> None:
            await self.indexer(state)

        outcome = await decide(self.kit, ctx, self.pds, evt.pds, suivre, only_existing=True, before_commit=indexer)
        if outcome == Outcome.ABSENT:
            log.warning("contract change on unknown PDS %s ignored", evt.pds)

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """Record the real reading of a completed intervention and announce it to the holder at that date."""
        if evt.statut != StatutIntervention.REALISEE or evt.releve is None:
            return
        releve = evt.releve

        def enregistrer(loaded: Loaded) -> Decided:
            titulaire = titulaire_a_la_date(loaded.state, releve.date_releve)
            motif = MotifReleve.INTERVENTION
            state, ajoutee = enregistrer_releve(loaded.state, releve, motif, titulaire, evt.reference_affaire, self.mois_consommations)
            return Decided(state, self._releve_events(evt.pds, releve, motif, titulaire, evt.reference_affaire) if ajoutee else [])

        await decide(self.kit, ctx, self.pds, evt.pds, enregistrer, only_existing=True)
