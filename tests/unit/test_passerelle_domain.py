"""The passerelle's pure rules: a demand's channel must be its sender's; a result goes to the supplier it names only."""

import uuid
from datetime import date

from contracts import topics as t
from contracts.envelope import Envelope, new_envelope
from contracts.evenements import DemandeAccepteeV1, FluxC15V1
from contracts.references import event_id
from contracts.refus import CodeRefus
from services.passerelle import domain
from tests.builders import changement_fournisseur

PDS = "30000000000017"


def cf(fournisseur: str | None) -> Envelope:
    return new_envelope(changement_fournisseur(PDS, date(2026, 1, 10)), key=PDS, fournisseur=fournisseur)


def test_channel_supplier_is_read_from_the_inbound_topic_only() -> None:
    assert domain.fournisseur_du_canal(t.fournisseur_demandes("VOLTA").name) == "VOLTA"
    assert domain.fournisseur_du_canal(t.fournisseur_resultats("VOLTA").name) is None
    assert domain.fournisseur_du_canal(t.DEMANDES.name) is None
    assert domain.fournisseur_du_canal("grd.fournisseurs.volta.demandes.v1") is None


def test_a_demand_in_its_own_name_passes() -> None:
    assert domain.controler("VOLTA", cf("VOLTA")) is None


def test_a_demand_in_another_name_is_refused_non_conforme() -> None:
    for declared in ("LUMEN", "volta"):
        env = cf(declared)
        refus = domain.controler("VOLTA", env)
        assert refus is not None
        assert (refus.code, refus.etape) == (CodeRefus.FOURNISSEUR_NON_CONFORME, "passerelle")
        assert refus.demande_message_id == env.message_id
        assert refus.pds == PDS
        assert "en son nom propre" in refus.message and f"« {declared} »" in refus.message


def test_a_demand_naming_no_supplier_is_refused_fournisseur_absent() -> None:
    env = cf(None)
    refus = domain.controler("VOLTA", env)
    assert refus is not None
    assert (refus.code, refus.etape, refus.demande_message_id, refus.pds) == (CodeRefus.FOURNISSEUR_ABSENT, "passerelle", env.message_id, PDS)
    assert "« fournisseur »" in refus.message and "VOLTA" in refus.message


def test_an_unreadable_record_is_refused_message_invalide_without_ids() -> None:
    refus = domain.illisible("x" * 500)
    assert (refus.code, refus.etape, refus.demande_message_id, refus.demande_type) == (CodeRefus.MESSAGE_INVALIDE, "passerelle", None, None)
    assert "x" * 200 in refus.message and "x" * 201 not in refus.message


def test_a_non_demand_type_is_refused_even_in_ones_own_name() -> None:
    evt = new_envelope(DemandeAccepteeV1(demande_message_id=uuid.uuid4(), demande_type="X", pds=PDS, message="ok"), key=PDS, fournisseur="VOLTA")
    refus = domain.controler("VOLTA", evt)
    assert refus is not None and refus.code == CodeRefus.TYPE_NON_ACCEPTE


def test_the_refusal_is_addressed_to_the_channel_with_a_derived_id() -> None:
    env = cf("LUMEN")
    refus = domain.controler("VOLTA", env)
    assert refus is not None
    out = domain.enveloppe_refus("VOLTA", refus, env.message_id, env.key, env.correlation_id)
    assert out.fournisseur == "VOLTA"
    assert out.type == "DemandeRefusee"
    assert out.message_id == event_id(env.message_id, "passerelle", "refus")
    again = domain.enveloppe_refus("VOLTA", refus, env.message_id, env.key, env.correlation_id)
    assert again.model_copy(update={"occurred_at": out.occurred_at}) == out  # a redelivery makes the same refusal


def test_results_go_to_the_named_supplier_with_a_derived_id() -> None:
    accepted = new_envelope(DemandeAccepteeV1(demande_message_id=uuid.uuid4(), demande_type="X", pds=PDS, message="ok"), key=PDS, fournisseur="VOLTA")
    copie = domain.copie_pour_fournisseur(t.DEMANDES_RESULTATS.name, accepted)
    assert copie is not None
    topic, env = copie
    assert topic == t.fournisseur_resultats("VOLTA").name
    assert env.message_id == event_id(accepted.message_id, "passerelle", topic) != accepted.message_id
    assert env.causation_id == accepted.message_id
    assert env.payload == accepted.payload and env.correlation_id == accepted.correlation_id


def test_each_c15_goes_to_the_supplier_it_names() -> None:
    for code, evenement in (("VOLTA", "CFNE"), ("LUMEN", "CFNS")):
        flux = FluxC15V1(pds=PDS, evenement=evenement, fournisseur=code, re_code=None, reference_affaire="A1", date_effet=date(2026, 1, 10))
        copie = domain.copie_pour_fournisseur(t.FLUX_C15.name, new_envelope(flux, key=PDS, fournisseur=code))
        assert copie is not None and copie[0] == t.fournisseur_flux(code).name


def test_messages_naming_no_supplier_or_from_other_topics_go_nowhere() -> None:
    accepted = new_envelope(DemandeAccepteeV1(demande_message_id=uuid.uuid4(), demande_type="X", pds=PDS, message="ok"), key=PDS, fournisseur=None)
    assert domain.copie_pour_fournisseur(t.DEMANDES_RESULTATS.name, accepted) is None
    assert domain.copie_pour_fournisseur(t.CONTRATS_EVENEMENTS.name, accepted.model_copy(update={"fournisseur": "VOLTA"})) is None
    assert domain.copie_pour_fournisseur(t.DEMANDES_RESULTATS.name, accepted.model_copy(update={"fournisseur": "../x"})) is None
    assert t.RELEVES.name not in domain.SORTANTS
