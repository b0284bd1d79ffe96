"""Thin handlers on the kit's port: load the PDS aggregate, call the pure domain, commit state + processed mark + events at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Any, Protocol

from contracts.common import StatutAffaire, StatutIntervention
from contracts.envelope import Envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeQualifieeV1, InterventionStatutChangeV1
from contracts.references import event_id
from contracts.refus import CodeRefus, Etape, Refus, demande_refusee
from platform_kit.decision import Decided, Verdict, refusal_of
from platform_kit.handling import decide, emissions
from platform_kit.messaging import HandlerContext, Outgoing
from platform_kit.ports import Aggregates, HandlerPort
from platform_kit.store import ConcurrencyConflict, Loaded, UnitOfWork
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

#: The refusal of a demand whose envelope names no acting supplier (the same code in every service).
FOURNISSEUR_ABSENT = Refus(CodeRefus.FOURNISSEUR_ABSENT, "Le fournisseur demandeur n'est pas identifié : renvoyez la demande avec votre code.")

#: A unit of work for one item of the due job: at its end, what a crash left unpublished goes out
#: (`Runtime.publishing_leftovers`).
UniteDeTravail = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


class Annexes(Protocol):
    """The documents kept beside the PDS aggregates (store.Annexes): the holders' contract lines and the due agenda."""

    async def indexer(self, etat: EtatPds) -> None:
        """Record the list lines of every contract of the PDS (idempotent)."""
        ...

    async def noter_echeance(self, pds: str, jour: date | None) -> None:
        """Keep the PDS's agenda entry at its next due date (none: no entry)."""
        ...

    async def echeances_dues(self, jour: date, complet: bool) -> list[str]:
        """The PDS with a change due by `jour` (from the agenda, or from every aggregate when `complet`)."""
        ...


def lire_etat(loaded: Loaded) -> EtatPds:
    """The domain state of a stored aggregate."""
    return EtatPds.model_validate(loaded.state)


def verdict(resultat: Decision | Refus | None) -> Verdict:
    """The domain's answer in the kit's terms (`handling.decide`)."""
    return resultat.decided() if isinstance(resultat, Decision) else resultat


class Handlers:
    """The use cases of the service, on the kit's port, the PDS aggregates and their side documents."""

    def __init__(
        self, kit: HandlerPort, store: Aggregates, regles: Regles, annexes: Annexes, unite_de_travail: UniteDeTravail, *, service: str = "contrats"
    ) -> None:
        self.kit = kit
        self.store = store
        self.regles = regles
        self.annexes = annexes
        self.unite_de_travail = unite_de_travail
        self.service = service

    async def _avant_commit(self, _pds: str, etat: dict[str, Any]) -> None:
        # The holders' contract lines first (idempotent): a crash before the commit redelivers and writes them again.
        await self.annexes.indexer(EtatPds.model_validate(etat))

    async def _apres_commit(self, pds: str, etat: dict[str, Any]) -> None:
        # The agenda after: a crash between the two is caught up by the due job's full pass.
        echeance = etat.get("prochaine_echeance")
        await self.annexes.noter_echeance(pds, date.fromisoformat(str(echeance)) if echeance else None)

    async def _decider(self, ctx: HandlerContext, pds: str, decide_fn: Callable[[Loaded], Verdict], **options: Any) -> None:
        await decide(self.kit, ctx, self.store, pds, decide_fn, before_commit=self._avant_commit, after_commit=self._apres_commit, **options)

    async def demande(self, ctx: HandlerContext, q: DemandeQualifieeV1) -> None:
        """Decide a qualified contract demand: refusal, or contract change + affaire opening."""
        if q.demande_type not in TYPES_TRAITES:
            return
        fournisseur = ctx.envelope.fournisseur

        def decider(loaded: Loaded) -> Verdict:
            if not fournisseur:
                return FOURNISSEUR_ABSENT
            return verdict(decider_demande(lire_etat(loaded), q, fournisseur, self.kit.today(), self.regles))

        await self._decider(
            ctx,
            q.contexte.pds,
            decider,
            refusal=refusal_of(q, Etape.CONTRATS),
            initial=lambda: etat_initial(q.contexte).model_dump(mode="json"),
        )

    async def intervention(self, ctx: HandlerContext, evt: InterventionStatutChangeV1) -> None:
        """An intervention réalisée completes the pending contract change of its affaire."""
        if evt.statut != StatutIntervention.REALISEE:
            return

        def decider(loaded: Loaded) -> Verdict:
            etat = lire_etat(loaded)
            if evt.date_realisation is not None and evt.date_realisation > self.kit.today():
                # Never applied before its day: the change waits for it, the due job applies it then.
                return verdict(differer(etat, evt.reference_affaire, evt.date_realisation, evt.releve))
            return verdict(realiser(etat, evt.reference_affaire, evt.date_realisation, evt.releve))

        await self._decider(ctx, evt.pds, decider, only_existing=True)

    async def affaire(self, ctx: HandlerContext, evt: AffaireStatutChangeV1) -> None:
        """An affaire annulée cancels its pending change; a CF affaire terminée becomes soldée."""
        if evt.statut == StatutAffaire.EN_COURS:
            return
        suivre = annuler if evt.statut == StatutAffaire.ANNULEE else solder
        await self._decider(ctx, evt.pds, lambda loaded: verdict(suivre(lire_etat(loaded), evt.reference_affaire)), only_existing=True)

    async def appliquer_echeances(self, pds: str) -> int:
        """Apply every change without intervention of one PDS whose date d'effet has come; return how many.

        A unit of work of its own: what a crash left unpublished in this PDS's outbox goes out at its end.
        """
        async with self.unite_de_travail() as work:
            return await self._appliquer_echeances(pds, work)

    async def _appliquer_echeances(self, pds: str, work: UnitOfWork) -> int:
        # Not `handling.decide`: the cause (hence the context) is known only once the loaded state names the due change.
        appliques = 0
        while True:
            loaded = await self.store.load(pds, work)
            if not loaded.exists:
                return appliques
            etat = lire_etat(loaded)
            changement = echeance_due(etat, self.kit.today())
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
                occurred_at=datetime.now(UTC),  # a technical time: stays real when the platform clock is moved
                correlation_id=changement.demande_message_id,
                fournisseur=contrat.titulaire if contrat else None,
                key=pds,
                payload={"reference_affaire": changement.reference_affaire},
            )
            ctx = HandlerContext(env, f"{self.service}.echeances", work=work, received_at=self.kit.now())
            decision = realiser(etat, changement.reference_affaire, None, None)
            if decision is None:
                return appliques
            try:
                await self._commit(ctx, loaded, decision.decided())
            except ConcurrencyConflict:
                continue
            appliques += 1

    async def _commit(self, ctx: HandlerContext, loaded: Loaded, decided: Decided) -> None:
        etat = dict(decided.state)
        await self._avant_commit(loaded.id, etat)
        await self.kit.commit(self.store, loaded, etat, ctx, emissions(ctx, decided.events))
        await self._apres_commit(loaded.id, etat)

    async def echeances_une_fois(self, complet: bool = True) -> int:
        """One pass of the due job (run by `rt.every`): over the agenda, or (complet) over every PDS with a due change."""
        total = 0
        for pds in await self.annexes.echeances_dues(self.kit.today(), complet):
            total += await self.appliquer_echeances(pds)
        return total

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
        return [HandlerContext(env, f"{self.service}.demandes").emit(refus)]
