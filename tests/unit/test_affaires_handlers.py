"""The affaires handlers on the in-memory port: each branch (accepted, refused, redelivered, concurrent write, failure)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contracts.common import EtatAffaire, ModeIntervention, NiveauAcces, StatutAffaire, StatutIntervention
from contracts.demandes import DemandeAnnulationV1
from contracts.evenements import (
    AffaireSoldeeV1,
    AffaireStatutChangeV1,
    AnnulationInterventionDemandeeV1,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeQualifieeV1,
    DemandeRefuseeV1,
    InterventionDemandeeV1,
    InterventionStatutChangeV1,
)
from contracts.references import reference_affaire
from contracts.refus import REFUS_ERREUR_TECHNIQUE
from platform_kit.messaging import HandlerContext
from platform_kit.testing import MemoryAggregates, MemoryKit
from services.affaires.domain import Affaire, PieceJointeStockee
from services.affaires.handlers import AffairesHandlers
from tests.unit.test_affaires_domain import (
    AT,
    LUMEN,
    PDS,
    TAILLE_MAX,
    VOLTA,
    diverse,
    ouverture,
    qualifiee,
    reclamation,
    technique,
)


class Annexes:
    """The list index and attachment store, in memory."""

    def __init__(self) -> None:
        self.index: dict[str, Affaire] = {}
        self.pieces: dict[str, tuple[str, str, bytes]] = {}

    async def indexer(self, affaire: Affaire) -> None:
        self.index[affaire.reference] = affaire

    async def stocker_piece_jointe(self, reference: str, fournisseur: str, pj: PieceJointeStockee) -> None:
        self.pieces[pj.info.id] = (reference, fournisseur, pj.contenu)


class Harness:
    """The handlers wired on a MemoryKit, with their two aggregate stores and the annexes."""

    def __init__(self) -> None:
        self.kit = MemoryKit(now=AT, service="affaires")
        self.affaires = MemoryAggregates("affaires")
        self.refus = MemoryAggregates("refus")
        self.annexes = Annexes()
        self.handlers = AffairesHandlers(self.kit, self.affaires, self.refus, self.annexes, TAILLE_MAX)

    def affaire(self, reference: str) -> Affaire:
        state = self.affaires.state(reference)
        assert state is not None, f"no affaire {reference}"
        return Affaire.model_validate(state)

    def codes(self) -> list[str]:
        return [r.code for r in self.kit.payloads(DemandeRefuseeV1)]


@pytest.fixture
def h() -> Harness:
    return Harness()


async def opened(h: Harness, fournisseur: str = LUMEN) -> str:
    """An affaire opened by an OuvertureAffaireDemandee (CF with a tele-operation); its reference."""
    cmd = ouverture()
    await h.kit.deliver(h.handlers.ouverture, h.kit.context(cmd, fournisseur=fournisseur))
    return cmd.reference_affaire


def intervention(reference: str, statut: StatutIntervention, **kw: Any) -> InterventionStatutChangeV1:
    """A tele-operated intervention's change of state."""
    return InterventionStatutChangeV1(reference_affaire=reference, pds=PDS, statut=statut, mode=kw.pop("mode", ModeIntervention.TELEOPERATION), **kw)


# --- ouverture -------------------------------------------------------------------------------------------------------


async def test_ouverture_opens_the_affaire_indexes_it_and_publishes_to_its_supplier(h: Harness) -> None:
    reference = await opened(h)
    assert h.affaire(reference).etat == "en_attente_intervention" and reference in h.annexes.index
    assert [type(e).__name__ for e in (h.kit.payloads(DemandeAccepteeV1) + h.kit.payloads(InterventionDemandeeV1))] == [
        "DemandeAccepteeV1",
        "InterventionDemandeeV1",
    ]
    assert {(env.key, env.fournisseur) for _, env in h.kit.published} == {(PDS, LUMEN)}


async def test_ouverture_redelivered_changes_nothing(h: Harness) -> None:
    cmd = ouverture()
    ctx = h.kit.context(cmd, fournisseur=LUMEN)
    await h.kit.deliver(h.handlers.ouverture, ctx)
    published, version = len(h.kit.published), h.affaires.version(cmd.reference_affaire)
    await h.kit.deliver(h.handlers.ouverture, h.kit.redelivery(ctx))
    # Re-sent by contrats under a new message id: the affaire of that demand exists, nothing more.
    await h.kit.deliver(h.handlers.ouverture, h.kit.context(cmd, fournisseur=LUMEN))
    assert (len(h.kit.published), h.affaires.version(cmd.reference_affaire)) == (published, version)


async def test_ouverture_onto_another_demands_affaire_fails_rather_than_passing_for_done(h: Harness) -> None:
    cmd = ouverture()
    h.affaires.seed(cmd.reference_affaire, {"generalites": {"demande_message_id": str(uuid.uuid4())}, "fournisseur": VOLTA})
    with pytest.raises(RuntimeError, match="collision"):
        await h.kit.deliver(h.handlers.ouverture, h.kit.context(cmd, fournisseur=LUMEN))
    assert h.kit.published == []


# --- supplier demands ------------------------------------------------------------------------------------------------


async def test_demande_diverse_opens_an_affaire_once(h: Harness) -> None:
    q = qualifiee(diverse())
    ctx = h.kit.context(q, fournisseur=LUMEN)
    await h.kit.deliver(h.handlers.demande, ctx)
    await h.kit.deliver(h.handlers.demande, h.kit.redelivery(ctx))
    reference = reference_affaire(q.demande_message_id)
    assert [a.reference_affaire for a in h.kit.payloads(DemandeAccepteeV1)] == [reference]
    assert h.affaire(reference).fournisseur == LUMEN and h.affaires.version(reference) == 1


async def test_reclamation_stores_its_attachment_beside_the_affaire(h: Harness) -> None:
    q = qualifiee(reclamation(b"index 12345"))
    await h.kit.deliver(h.handlers.demande, h.kit.context(q, fournisseur=LUMEN))
    reference = reference_affaire(q.demande_message_id)
    assert h.annexes.pieces == {f"{reference}-PJ1": (reference, LUMEN, b"index 12345")}


async def test_intervention_technique_asks_planification_for_the_intervention(h: Harness) -> None:
    q = qualifiee(technique())
    await h.kit.deliver(h.handlers.demande, h.kit.context(q, fournisseur=LUMEN))
    [commande] = h.kit.payloads(InterventionDemandeeV1)
    assert commande.reference_affaire == reference_affaire(q.demande_message_id)


@pytest.mark.parametrize(
    ("q", "fournisseur", "code"),
    [
        (qualifiee(diverse(), NiveauAcces.MANDAT), LUMEN, "NIVEAU_ACCES_INSUFFISANT"),
        (qualifiee(diverse(-1)), LUMEN, "DATE_SOUHAITEE_PASSEE"),
        (qualifiee(reclamation(b"x" * (TAILLE_MAX + 1))), LUMEN, "PIECE_JOINTE_TROP_VOLUMINEUSE"),
        (qualifiee(technique()), None, "FOURNISSEUR_ABSENT"),
        (qualifiee(diverse()).model_copy(update={"demande": {"pds": PDS}}), LUMEN, "MESSAGE_INVALIDE"),
    ],
)
async def test_refused_demand_is_recorded_and_refused_once(h: Harness, q: DemandeQualifieeV1, fournisseur: str | None, code: str) -> None:
    ctx = h.kit.context(q, fournisseur=fournisseur)
    await h.kit.deliver(h.handlers.demande, ctx)
    await h.kit.deliver(h.handlers.demande, h.kit.redelivery(ctx))
    [refus] = h.kit.payloads(DemandeRefuseeV1)
    assert (refus.code, refus.etape, refus.demande_message_id, refus.pds) == (code, "affaires", q.demande_message_id, PDS)
    record = h.refus.state(str(q.demande_message_id))
    assert record is not None and (record["code"], record["fournisseur"]) == (code, fournisseur)
    assert h.affaires.ids() == []


async def test_demands_of_other_types_are_not_ours(h: Harness) -> None:
    q = qualifiee(diverse()).model_copy(update={"demande_type": "DemandeCessation"})
    await h.kit.deliver(h.handlers.demande, h.kit.context(q, fournisseur=LUMEN))
    assert h.kit.published == [] and h.refus.ids() == []


async def test_a_reference_held_by_another_demand_gives_this_demand_the_next_one(h: Harness) -> None:
    q = qualifiee(diverse())
    occupee = reference_affaire(q.demande_message_id)
    autre = {"generalites": {"demande_message_id": str(uuid.uuid4())}, "fournisseur": VOLTA}
    h.affaires.seed(occupee, autre)
    ctx = h.kit.context(q, fournisseur=LUMEN)
    await h.kit.deliver(h.handlers.demande, ctx)
    await h.kit.deliver(h.handlers.demande, h.kit.redelivery(ctx))
    nouvelle = reference_affaire(q.demande_message_id, 1)
    assert [a.reference_affaire for a in h.kit.payloads(DemandeAccepteeV1)] == [nouvelle]
    assert h.affaire(nouvelle).fournisseur == LUMEN and h.affaires.state(occupee) == autre


# --- annulation ------------------------------------------------------------------------------------------------------


def annulation(reference: str) -> DemandeQualifieeV1:
    return qualifiee(DemandeAnnulationV1(pds=PDS, reference_affaire=reference, motif="Erreur de saisie"))


async def test_annulation_of_own_affaire_cancels_it_and_its_intervention_once(h: Harness) -> None:
    reference = await opened(h)
    ctx = h.kit.context(annulation(reference), fournisseur=LUMEN)
    await h.kit.deliver(h.handlers.demande, ctx)
    await h.kit.deliver(h.handlers.demande, h.kit.redelivery(ctx))
    assert h.affaire(reference).etat == "annulee" and h.annexes.index[reference].etat == "annulee"
    assert [a.reference_affaire for a in h.kit.payloads(AnnulationInterventionDemandeeV1)] == [reference]
    assert h.codes() == []


@pytest.mark.parametrize(("existe", "fournisseur", "code"), [(False, LUMEN, "AFFAIRE_INCONNUE"), (True, VOLTA, "AFFAIRE_AUTRE_FOURNISSEUR")])
async def test_annulation_refused_is_recorded_under_the_demand_not_on_the_affaire(h: Harness, existe: bool, fournisseur: str, code: str) -> None:
    reference = await opened(h) if existe else "AINCONNUE9"
    version = h.affaires.version(reference)
    q = annulation(reference)
    ctx = h.kit.context(q, fournisseur=fournisseur)
    await h.kit.deliver(h.handlers.demande, ctx)
    await h.kit.deliver(h.handlers.demande, h.kit.redelivery(ctx))
    assert h.codes() == [code] and h.refus.ids() == [str(q.demande_message_id)]
    assert h.affaires.version(reference) == version


async def test_annulation_during_a_concurrent_write_is_decided_again_on_the_new_state(h: Harness) -> None:
    reference = await opened(h)
    termine = h.affaire(reference).model_copy(update={"statut": StatutAffaire.TERMINEE, "etat": EtatAffaire.TERMINEE, "annulable": False})
    h.affaires.interleave(reference, termine.model_dump(mode="json"))
    conflicts = await h.kit.deliver(h.handlers.demande, h.kit.context(annulation(reference), fournisseur=LUMEN))
    assert conflicts == 1 and h.codes() == ["AFFAIRE_NON_ANNULABLE"] and h.affaire(reference).etat == "terminee"


# --- follow-up -------------------------------------------------------------------------------------------------------


async def test_intervention_followed_once_and_indexed(h: Harness) -> None:
    reference = await opened(h)
    ctx = h.kit.context(intervention(reference, StatutIntervention.REALISEE, date_realisation=AT.date()))
    await h.kit.deliver(h.handlers.intervention, ctx)
    await h.kit.deliver(h.handlers.intervention, h.kit.redelivery(ctx))
    etats = [e.etat for e in h.kit.payloads(AffaireStatutChangeV1)]
    assert etats[-1] == "intervention_realisee" and etats.count("intervention_realisee") == 1
    assert h.annexes.index[reference].etat == "intervention_realisee"


async def test_intervention_of_an_unknown_affaire_is_not_ours(h: Harness) -> None:
    await h.kit.deliver(h.handlers.intervention, h.kit.context(intervention("AINCONNUE9", StatutIntervention.PLANIFIEE)))
    assert h.kit.published == [] and h.affaires.ids() == []


async def test_intervention_during_a_concurrent_write_is_decided_again(h: Harness) -> None:
    reference = await opened(h)
    express = h.affaire(reference).model_copy(update={"express": True})
    h.affaires.interleave(reference, express.model_dump(mode="json"))
    ctx = h.kit.context(intervention(reference, StatutIntervention.ETUDE_TECHNIQUE, motif="Puissance"))
    assert await h.kit.deliver(h.handlers.intervention, ctx) == 1
    apres = h.affaire(reference)
    assert apres.express and apres.etat == "etude_technique"


async def test_contract_in_service_ends_the_affaire_and_a_contract_event_without_affaire_is_ignored(h: Harness) -> None:
    reference = await opened(h)
    await h.kit.deliver(h.handlers.contrat, h.kit.context(ContratEtatChangeV1(contrat_id="CT-1", pds=PDS, titulaire=LUMEN, etat="en_service")))
    assert h.affaire(reference).statut == "en_cours"
    fin = ContratEtatChangeV1(contrat_id="CT-1", pds=PDS, titulaire=LUMEN, etat="en_service", reference_affaire=reference)
    await h.kit.deliver(h.handlers.contrat, h.kit.context(fin))
    assert (h.affaire(reference).statut, h.affaire(reference).etat) == ("terminee", "terminee")


async def test_soldee_closes_the_affaire_and_again_changes_nothing(h: Harness) -> None:
    reference = await opened(h)
    await h.kit.deliver(h.handlers.soldee, h.kit.context(AffaireSoldeeV1(reference_affaire=reference, pds=PDS, commentaire="Fin")))
    version = h.affaires.version(reference)
    await h.kit.deliver(h.handlers.soldee, h.kit.context(AffaireSoldeeV1(reference_affaire=reference, pds=PDS)))
    assert h.affaire(reference).etat == "soldee" and h.affaires.version(reference) == version


# --- failure hook ----------------------------------------------------------------------------------------------------


async def echec(h: Harness, q: DemandeQualifieeV1) -> None:
    ctx: HandlerContext = h.kit.context(q, fournisseur=LUMEN)
    await h.handlers.echec(ctx, "boom")


async def test_a_demand_given_up_is_refused_erreur_technique_once(h: Harness) -> None:
    q = qualifiee(diverse())
    await echec(h, q)
    await echec(h, q)
    [refus] = h.kit.payloads(DemandeRefuseeV1)
    assert (refus.code, refus.message, refus.demande_message_id) == ("ERREUR_TECHNIQUE", REFUS_ERREUR_TECHNIQUE.message, q.demande_message_id)


async def test_a_demand_given_up_after_its_affaire_or_refusal_is_not_refused_again(h: Harness) -> None:
    acceptee, refusee = qualifiee(diverse()), qualifiee(diverse(-1))
    for q in (acceptee, refusee):
        await h.kit.deliver(h.handlers.demande, h.kit.context(q, fournisseur=LUMEN))
        await echec(h, q)
    assert h.codes() == ["DATE_SOUHAITEE_PASSEE"]
