"""The contrats handlers on the in-memory port: each branch (accepted, refused, nothing to do), redeliveries, concurrent
writes decided again, the due job and its agenda, the unreadable demand."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from contracts.common import EtatAffaire, EtatContrat, EvenementC15, ModeIntervention, NiveauAcces, StatutAffaire, StatutIntervention, TypeAffaire
from contracts.envelope import new_envelope
from contracts.evenements import (
    AffaireStatutChangeV1,
    ContextePds,
    ContratEtatChangeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    FluxC15V1,
    InterventionStatutChangeV1,
    OuvertureAffaireDemandeeV1,
)
from contracts.references import reference_affaire
from contracts.refus import CodeRefus, Etape
from platform_kit.clock import FUSEAU
from platform_kit.reference import reference
from platform_kit.testing import MemoryAggregates, MemoryKit
from services.contrats.domain import EtatPds, Regles, etat_initial
from services.contrats.handlers import Handlers
from tests.builders import changement_fournisseur, contexte_pds, demande_cessation, qualifiee, unite_de_travail

PDS = "30000000000042EC1"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TODAY = NOW.astimezone(FUSEAU).date()
EFFET = TODAY + timedelta(days=7)


class MemoryAnnexes:
    """store.Annexes in memory: the holders' lines and the due agenda."""

    def __init__(self) -> None:
        self.lignes: dict[str, dict[str, str]] = {}
        self.agenda: dict[str, date] = {}

    async def indexer(self, etat: EtatPds) -> None:
        for c in etat.contrats:
            self.lignes.setdefault(c.titulaire, {})[c.id] = c.etat.value

    async def noter_echeance(self, pds: str, jour: date | None) -> None:
        if jour is None:
            self.agenda.pop(pds, None)
        else:
            self.agenda[pds] = jour

    async def echeances_dues(self, jour: date, complet: bool) -> list[str]:
        return [pds for pds, due in self.agenda.items() if due <= jour]


class Service:
    """The handlers on a memory kit, a memory store and memory annexes."""

    def __init__(self) -> None:
        self.kit = MemoryKit(now=NOW, service="contrats")
        self.pds = MemoryAggregates("contrats_pds")
        self.annexes = MemoryAnnexes()
        grd = reference()
        regles = Regles(res_connus=grd.tous_les_re(), re_par_defaut=grd.re_par_defaut(), durees_minutes={"changement_fournisseur": 30})
        self.handlers = Handlers(self.kit, self.pds, regles, self.annexes, unite_de_travail, service="contrats")

    def en_service(self, titulaire: str = "VOLTA") -> None:
        """The PDS in service, held by `titulaire` (a classic meter: a CF needs no intervention)."""
        self.pds.seed(PDS, etat_initial(contexte(titulaire)).model_dump(mode="json"))

    async def demander(self, q: DemandeQualifieeV1, fournisseur: str | None = "LUMEN") -> int:
        ctx = self.kit.context(q, fournisseur=fournisseur)
        conflicts = await self.kit.deliver(self.handlers.demande, ctx)
        await self.kit.deliver(self.handlers.demande, self.kit.redelivery(ctx))
        return conflicts

    def codes(self) -> list[str]:
        return [r.code for r in self.kit.payloads(DemandeRefuseeV1)]


def contexte(titulaire: str | None = "VOLTA") -> ContextePds:
    return contexte_pds(PDS, titulaire=titulaire, amm=False, localisation="interieur", mode_releve="sur_site")


def cf(**champs: object) -> DemandeQualifieeV1:
    return qualifiee(changement_fournisseur(PDS, EFFET, **champs), contexte(), niveau=NiveauAcces.CONTRAT_CONCLU)


async def test_cf_accepted_once_despite_redelivery() -> None:
    svc = Service()
    svc.en_service()
    q = cf()
    await svc.demander(q)
    [evt] = svc.kit.payloads(ContratEtatChangeV1)
    [ouverture] = svc.kit.payloads(OuvertureAffaireDemandeeV1)
    assert evt.titulaire == "LUMEN" and evt.etat == EtatContrat.EN_COURS_DE_SOUSCRIPTION
    assert ouverture.reference_affaire == reference_affaire(q.demande_message_id)
    assert ouverture.type_affaire == TypeAffaire.CHANGEMENT_FOURNISSEUR
    assert svc.pds.version(PDS) == 2 and len(svc.kit.commits) == 1
    # The side documents: the new holder's line, the agenda at the date d'effet.
    assert EtatContrat.EN_COURS_DE_SOUSCRIPTION.value in svc.annexes.lignes["LUMEN"].values()
    assert svc.annexes.agenda == {PDS: EFFET}


async def test_cf_events_go_to_their_supplier() -> None:
    svc = Service()
    svc.en_service()
    await svc.demander(cf())
    fournisseurs = {env.type: env.fournisseur for env in svc.kit.events()}
    assert fournisseurs == {"ContratEtatChange": "LUMEN", "OuvertureAffaireDemandee": "LUMEN"}


async def test_refusal_published_once_state_kept() -> None:
    svc = Service()
    svc.en_service(titulaire="LUMEN")
    avant = svc.pds.state(PDS)
    await svc.demander(cf())
    assert svc.codes() == [CodeRefus.CF_DEJA_TITULAIRE]
    [refus] = svc.kit.payloads(DemandeRefuseeV1)
    assert refus.etape == Etape.CONTRATS and refus.pds == PDS
    assert svc.pds.state(PDS) == avant and svc.pds.version(PDS) == 2
    assert svc.kit.payloads(ContratEtatChangeV1) == []


async def test_demand_without_supplier_refused_fournisseur_absent() -> None:
    svc = Service()
    svc.en_service()
    await svc.demander(cf(), fournisseur=None)
    assert svc.codes() == [CodeRefus.FOURNISSEUR_ABSENT]
    [refus] = svc.kit.payloads(DemandeRefuseeV1)
    assert refus.message == "Le fournisseur demandeur n'est pas identifié : renvoyez la demande avec votre code."


async def test_invalid_demand_payload_refused_message_invalide() -> None:
    svc = Service()
    svc.en_service()
    q = cf()
    q = q.model_copy(update={"demande": {**q.demande, "date_effet_souhaitee": "pas une date"}})
    await svc.demander(q)
    assert svc.codes() == [CodeRefus.MESSAGE_INVALIDE]


async def test_unknown_pds_starts_from_the_referentiel_snapshot() -> None:
    svc = Service()
    await svc.demander(cf())
    etat = EtatPds.model_validate(svc.pds.state(PDS))
    assert {c.titulaire: c.etat for c in etat.contrats} == {"VOLTA": EtatContrat.EN_SERVICE, "LUMEN": EtatContrat.EN_COURS_DE_SOUSCRIPTION}


async def test_other_demand_types_are_not_ours() -> None:
    svc = Service()
    svc.en_service()
    q = cf().model_copy(update={"demande_type": "DemandeReclamation"})
    await svc.demander(q)
    assert svc.kit.published == [] and svc.pds.version(PDS) == 1


async def test_concurrent_subscription_decided_again() -> None:
    svc = Service()
    svc.en_service()
    # Another CF is accepted between our load and our commit: ours conflicts, is decided again, and is refused.
    autre = Service()
    autre.en_service()
    await autre.demander(cf())
    svc.pds.interleave(PDS, autre.pds.state(PDS) or {})
    conflicts = await svc.demander(cf())
    assert conflicts == 1
    assert svc.codes() == [CodeRefus.SOUSCRIPTION_EN_COURS]
    assert svc.kit.payloads(ContratEtatChangeV1) == []


async def test_due_job_applies_the_cf_on_its_date_once() -> None:
    svc = Service()
    svc.en_service()
    await svc.demander(cf())
    assert await svc.handlers.echeances_une_fois(False) == 0
    svc.kit.advance(timedelta(days=7))
    assert await svc.handlers.echeances_une_fois(False) == 1
    assert await svc.handlers.echeances_une_fois(True) == 0
    flux = svc.kit.payloads(FluxC15V1)
    assert [(f.evenement, f.fournisseur) for f in flux] == [(EvenementC15.CFNE, "LUMEN"), (EvenementC15.CFNS, "VOLTA")]
    assert svc.annexes.agenda == {}
    etats = {c.titulaire: c.etat for c in EtatPds.model_validate(svc.pds.state(PDS)).contrats}
    assert etats == {"VOLTA": EtatContrat.CESSE, "LUMEN": EtatContrat.EN_SERVICE}
    assert svc.annexes.lignes["VOLTA"] == {f"CT-{PDS}-1": EtatContrat.CESSE.value}


async def test_due_job_on_a_pds_gone_does_nothing() -> None:
    svc = Service()
    svc.annexes.agenda[PDS] = TODAY
    assert await svc.handlers.echeances_une_fois(False) == 0
    assert svc.kit.published == []


def intervention(statut: StatutIntervention, reference_affaire_: str, jour: date | None) -> InterventionStatutChangeV1:
    return InterventionStatutChangeV1.model_validate(
        {
            "reference_affaire": reference_affaire_,
            "pds": PDS,
            "statut": statut,
            "mode": ModeIntervention.CRENEAU,
            "date_realisation": jour,
        }
    )


async def cessation_acceptee(svc: Service) -> str:
    q = qualifiee(demande_cessation(PDS, TODAY + timedelta(days=5)), contexte())
    await svc.demander(q, fournisseur="VOLTA")
    assert svc.codes() == []
    return reference_affaire(q.demande_message_id)


async def test_intervention_realisee_today_ends_the_contract() -> None:
    svc = Service()
    svc.en_service()
    ref = await cessation_acceptee(svc)
    ctx = svc.kit.context(intervention(StatutIntervention.REALISEE, ref, TODAY))
    await svc.kit.deliver(svc.handlers.intervention, ctx)
    await svc.kit.deliver(svc.handlers.intervention, svc.kit.redelivery(ctx))
    assert [f.evenement for f in svc.kit.payloads(FluxC15V1)] == [EvenementC15.RES]


async def test_intervention_realisee_in_the_future_waits_for_its_day() -> None:
    svc = Service()
    svc.en_service()
    ref = await cessation_acceptee(svc)
    jour = TODAY + timedelta(days=2)
    await svc.kit.deliver(svc.handlers.intervention, svc.kit.context(intervention(StatutIntervention.REALISEE, ref, jour)))
    assert svc.kit.payloads(FluxC15V1) == [] and svc.annexes.agenda == {PDS: jour}
    svc.kit.advance(timedelta(days=2))
    assert await svc.handlers.echeances_une_fois(False) == 1
    assert [f.evenement for f in svc.kit.payloads(FluxC15V1)] == [EvenementC15.RES]


async def test_intervention_on_unknown_pds_or_not_done_writes_nothing() -> None:
    svc = Service()
    await svc.kit.deliver(svc.handlers.intervention, svc.kit.context(intervention(StatutIntervention.REALISEE, "AFF-X", TODAY)))
    svc.en_service()
    await svc.kit.deliver(svc.handlers.intervention, svc.kit.context(intervention(StatutIntervention.PLANIFIEE, "AFF-X", TODAY)))
    assert svc.kit.commits == [] and svc.pds.ids() == [PDS]


def affaire(statut: StatutAffaire, ref: str) -> AffaireStatutChangeV1:
    return AffaireStatutChangeV1.model_validate(
        {"reference_affaire": ref, "pds": PDS, "type_affaire": TypeAffaire.CESSATION, "statut": statut, "etat": EtatAffaire.ANNULEE}
    )


async def test_affaire_annulee_undoes_the_cessation_once() -> None:
    svc = Service()
    svc.en_service()
    ref = await cessation_acceptee(svc)
    ctx = svc.kit.context(affaire(StatutAffaire.ANNULEE, ref))
    await svc.kit.deliver(svc.handlers.affaire, ctx)
    await svc.kit.deliver(svc.handlers.affaire, svc.kit.redelivery(ctx))
    etats = [e.etat for e in svc.kit.payloads(ContratEtatChangeV1)]
    assert etats == [EtatContrat.EN_COURS_DE_CESSATION, EtatContrat.EN_SERVICE]
    assert svc.annexes.agenda == {}


async def test_affaire_news_without_pending_change_writes_nothing() -> None:
    svc = Service()
    svc.en_service()
    await svc.kit.deliver(svc.handlers.affaire, svc.kit.context(affaire(StatutAffaire.TERMINEE, "AFF-INCONNUE")))
    assert svc.kit.commits == []


async def test_unreadable_qualified_demand_gets_one_refusal() -> None:
    svc = Service()
    demande_id = uuid.uuid4()
    env = new_envelope(cf(), key=PDS, fournisseur="LUMEN")
    env = env.model_copy(update={"payload": {"demande_type": "DemandeChangementFournisseur", "demande_message_id": str(demande_id)}})
    [(_topic, sortant)] = await svc.handlers.refuser_illisible(env, "contexte manquant")
    refus = DemandeRefuseeV1.model_validate(sortant.payload)
    assert (refus.code, refus.demande_message_id, refus.etape) == (CodeRefus.MESSAGE_INVALIDE, demande_id, Etape.CONTRATS)
    env = env.model_copy(update={"payload": {"demande_type": "DemandeReclamation", "demande_message_id": str(demande_id)}})
    assert await svc.handlers.refuser_illisible(env, "contexte manquant") == []
