"""The refusal vocabulary: one code per situation, one builder, the technical-error refusal defined once."""

import uuid

from contracts.refus import REFUS_ERREUR_TECHNIQUE, CodeRefus, Etape, Refus, demande_refusee
from platform_kit import outcomes


def test_every_refusal_code_is_its_own_upper_snake_name() -> None:
    for code in CodeRefus:
        assert code.value == code.name and code.value == code.value.upper() and " " not in code.value


def test_a_missing_supplier_has_one_code_and_a_foreign_one_another() -> None:
    assert "FOURNISSEUR_INCONNU" not in CodeRefus.__members__
    assert len({CodeRefus.FOURNISSEUR_ABSENT, CodeRefus.FOURNISSEUR_NON_CONFORME}) == 2


def test_the_builder_puts_code_message_and_step_on_the_wire_as_strings() -> None:
    demande = uuid.uuid4()
    evt = demande_refusee(demande, "DemandeDiverse", "30001234567890EC1", Refus(CodeRefus.PDS_INCONNU, "PDS inconnu : vérifiez."), Etape.REFERENTIEL)
    wire = evt.model_dump(mode="json")
    assert wire["code"] == "PDS_INCONNU" and wire["etape"] == "referentiel" and wire["message"] == "PDS inconnu : vérifiez."
    assert wire["demande_message_id"] == str(demande) and wire["pds"] == "30001234567890EC1"


def test_an_unreadable_demand_is_refused_without_ids() -> None:
    evt = demande_refusee(None, None, None, Refus(CodeRefus.MESSAGE_INVALIDE, "Illisible : renvoyez-la."), Etape.PASSERELLE)
    assert evt.demande_message_id is None and evt.demande_type is None and evt.code == "MESSAGE_INVALIDE"


def test_the_kit_failure_outcome_is_the_one_technical_error_refusal() -> None:
    assert outcomes.ERREUR_TECHNIQUE == REFUS_ERREUR_TECHNIQUE.code
    assert outcomes.MESSAGE_ERREUR_TECHNIQUE == REFUS_ERREUR_TECHNIQUE.message
    evt = outcomes.refus_technique(uuid.uuid4(), "DemandeCessation", None, "contrats")
    assert (evt.code, evt.message, evt.etape) == ("ERREUR_TECHNIQUE", REFUS_ERREUR_TECHNIQUE.message, "contrats")
