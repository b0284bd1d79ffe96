"""Thin handlers: load the PDS aggregate, call the pure domain, commit state + processed mark + events at once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from contracts.common import StatutAffaire, StatutIntervention
from contracts.envelope import Envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeQualifieeV1, InterventionStatutChangeV1
from contracts.references import event_id
from contracts.refus import CodeRefus, Etape, Refus, demande_refusee
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.runtime import Runtime
from platform_kit.store import AggregateStore, ConcurrencyConflict, Loaded, UnitOfWork
from services.contrats.domain import (
    TYPES_TRAITES,
    Decision,
    EtatPds,
    Regles,
    annuler,
    decider_demande,
    differer,
    echeance_due,
    etat_initial,
    realiser,
    solder,
)
from services.contrats.store import INDEX_CONTRATS, indexer_contrats

log = logging.getLogger(__name__)


def lire_etat(loaded: Loaded) -> EtatPds:
    """The domain state of a stored aggregate."""
    return EtatPds.model_validate(loaded.state)


class Handlers:
    """The use cases of the service, wired to one runtime and one store."""

    def __init__(self, rt: Runtime, store: AggregateStore, regles: Regles, today: Callable[[], date], intervalle_s: float) -> None:
        self.rt = rt
        self.store = store
        self.regles = regles
        self.today = today
        self.intervalle_s = intervalle_s
        # The agenda: one small document per PDS holding a dated change. FerretDB scans whole collections, so the
        # scheduler reads this instead of every PDS; a full pass at start and every few minutes covers a crash
        # between the aggregate write and the agenda write.
        self.agenda = rt.db["agenda_echeances"]
        self.passage_complet_s = 600.0
        self.index_contrats = rt.db[INDEX_CONTRATS]

    async def _commit(self, loaded: Loaded, etat: dict[str, Any], ctx: HandlerContext, sortants: list[Outgoing]) -> None:
        # The holders' contract index first (idempotent $set): a crash before the commit redelivers and writes it again.
        await indexer_contrats(self.index_contrats, EtatPds.model_validate(etat))
        await self.rt.commit(self.store, loaded, etat, ctx, sortants)
        echeance = etat.get("prochaine_echeance")
        if echeance:
            await self.agenda.replace_one({"_id": loaded.id}, {"_id": loaded.id, "date": echeance}, upsert=True)
        else:
            await self.agenda.delete_one({"_id": loaded.id})

    def _sortants(self, ctx: HandlerContext, decision: Decision) -> list[Outgoing]:
        return [ctx.emit(p) if f is None else ctx.emit(p, fournisseur=f) for p, f in decision.effets]

    async def demande(self, ctx: HandlerContext, q: DemandeQualifieeV1) -> None:
        """Decide a qualified contract demand: refusal, or contract change + affaire opening."""
        if q.demande_type not in TYPES_TRAITES:
            return
        loaded = await ctx.load(self.store, q.contexte.pds)
        if loaded.applied(ctx.envelope.message_id):
            return
        etat = lire_etat(loaded) if loaded.exists else etat_initial(q.contexte)
        fournisseur = ctx.envelope.fournisseur
        if not fournisseur:
            resultat: Decision | Refus | None = Refus(
                CodeRefus.MESSAGE_INVALIDE, "Le fournisseur demandeur n'est pas identifié : renvoyez la demande avec votre code."
            )
        else:
            resultat = decider_demande(etat, q, fournisseur, self.today(), self.regles)
        if resultat is None:
            return
        if isinstance(resultat, Refus):
            refus = demande_refusee(q.demande_message_id, q.demande_type, q.contexte.pds, resultat, Etape.CONTRATS)
            await self._commit(loaded, etat.model_dump(mode="json"), ctx, [ctx.emit(refus)])
            return
        await self._commit(loaded, resultat.etat.model_dump(mode="json"), ctx, self._sortants(ctx, resultat))

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """An intervention réalisée completes the pending contract change of its affaire."""
        if evt.statut != StatutIntervention.REALISEE:
            return
        loaded = await ctx.load(self.store, evt.pds)
        if not loaded.exists or loaded.applied(ctx.envelope.message_id):
            return
        if evt.date_realisation is not None and evt.date_realisation > self.today():
            # Never applied before its day: the change waits for it, the due job applies it then.
            decision = differer(lire_etat(loaded), evt.reference_affaire, evt.date_realisation, evt.releve)
        else:
            decision = realiser(lire_etat(loaded), evt.reference_affaire, evt.date_realisation, evt.releve)
        if decision is None:
            return
        await self._commit(loaded, decision.etat.model_dump(mode="json"), ctx, self._sortants(ctx, decision))

    async def affaire(self, ctx: HandlerContext, evt: AffaireStatutChangeV1) -> None:
        """An affaire annulée cancels its pending change; a CF affaire terminée becomes soldée."""
        if evt.statut == StatutAffaire.EN_COURS:
            return
        loaded = await ctx.load(self.store, evt.pds)
        if not loaded.exists or loaded.applied(ctx.envelope.message_id):
            return
        etat = lire_etat(loaded)
        decision = annuler(etat, evt.reference_affaire) if evt.statut == StatutAffaire.ANNULEE else solder(etat, evt.reference_affaire)
        if decision is None:
            return
        await self._commit(loaded, decision.etat.model_dump(mode="json"), ctx, self._sortants(ctx, decision))

    async def appliquer_echeances(self, pds: str) -> int:
        """Apply every change without intervention of one PDS whose date d'effet has come; return how many.

        A unit of work of its own: what a crash left unpublished in this PDS's outbox goes out at its end.
        """
        async with self.rt.publishing_leftovers() as work:
            return await self._appliquer_echeances(pds, work)

    async def _appliquer_echeances(self, pds: str, work: UnitOfWork) -> int:
        appliques = 0
        while True:
            loaded = await self.store.load(pds, work)
            if not loaded.exists:
                return appliques
            etat = lire_etat(loaded)
            changement = echeance_due(etat, self.today())
            if changement is None:
                return appliques
            # A synthetic, deterministic cause: replaying the same due change yields the same ids and is a no-op.
            cause = event_id("echeance", changement.reference_affaire)
            if loaded.applied(cause):
                return appliques
            work.message_id = str(cause)
            contrat = next((c for c in etat.contrats if c.id == changement.contrat_id), None)
            env = Envelope(
                message_id=cause,
                type="EcheanceContrat",
                occurred_at=datetime.now(UTC),
                correlation_id=changement.demande_message_id,
                fournisseur=contrat.titulaire if contrat else None,
                key=pds,
                payload={"reference_affaire": changement.reference_affaire},
            )
            ctx = HandlerContext(env, f"{self.rt.settings.service_name}.echeances", work=work, received_at=self.rt.now())
            decision = realiser(etat, changement.reference_affaire, None, None)
            if decision is None:
                return appliques
            try:
                await self._commit(loaded, decision.etat.model_dump(mode="json"), ctx, self._sortants(ctx, decision))
            except ConcurrencyConflict:
                continue
            appliques += 1

    async def echeances_une_fois(self, complet: bool = True) -> int:
        """One pass of the scheduler: over the agenda, or (complet) over every PDS with a due change."""
        jour = self.today().isoformat()
        total = 0
        if complet:
            for collection in self.store.collections:
                async for doc in collection.find({"prochaine_echeance": {"$lte": jour}}, {"_id": 1}):
                    total += await self.appliquer_echeances(str(doc["_id"]))
        else:
            dus = [str(doc["_id"]) async for doc in self.agenda.find({"date": {"$lte": jour}}, {"_id": 1})]
            for pds in dus:
                total += await self.appliquer_echeances(pds)
        return total

    async def boucle_echeances(self) -> None:
        """Background job: apply due changes every few seconds (a full pass at start and every few minutes)."""
        await self.rt.broker_ready.wait()
        dernier_complet = float("-inf")
        boucle = asyncio.get_running_loop()
        while True:
            try:
                complet = boucle.time() - dernier_complet >= self.passage_complet_s
                await self.echeances_une_fois(complet)
                if complet:
                    dernier_complet = boucle.time()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("échéances : passage en échec, nouvel essai au prochain tour", exc_info=True)
            await asyncio.sleep(self.intervalle_s)

    async def refuser_illisible(self, env: Envelope, detail: str) -> list[Outgoing]:
        """A qualified contract demand that does not match the schema still gets exactly one outcome."""
        demande_type = env.payload.get("demande_type")
        if demande_type not in TYPES_TRAITES:
            return []
        try:
            demande_id = uuid.UUID(str(env.payload.get("demande_message_id")))
        except ValueError:
            return []
        invalide = Refus(CodeRefus.MESSAGE_INVALIDE, f"La demande qualifiée est invalide ({detail}) : renvoyez une demande complète.")
        refus = demande_refusee(demande_id, str(demande_type), env.key, invalide, Etape.CONTRATS)
        return [HandlerContext(env, f"{self.rt.settings.service_name}.demandes").emit(refus)]
