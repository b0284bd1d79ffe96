"""Unit tests of the notifications decisions and templates: event → e-mails (template, recipients, subject, body)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from contracts.common import EtatContrat, ModeIntervention, StatutAffaire, StatutIntervention, TypeAffaire
from contracts.evenements import (
    AffaireStatutChangeV1,
    ContratEtatChangeV1,
    DemandeAccepteeV1,
    DemandeRefuseeV1,
    InterventionStatutChangeV1,
)
from services.notifications.domain import (
    Decision,
    Evenement,
    SuiviAffaire,
    date_fr,
    decider,
    fournisseur_concerne,
    message_id_mail,
)
from services.notifications.rendering import Renderer

PDS = "30001234567890EC1"
REF = "A1B2C3D4E"
LUMEN = "gestion@lumen.example"
GRD = "equipe-acheminement@grd.example"
DEMANDE = uuid.UUID("00000000-0000-0000-0000-000000000001")


def accepte(**kw: Any) -> DemandeAccepteeV1:
    base: dict[str, Any] = {
        "demande_message_id": DEMANDE,
        "demande_type": "DemandeChangementFournisseur",
        "reference_affaire": REF,
        "pds": PDS,
        "message": "Changement de fournisseur enregistré.",
    }
    return DemandeAccepteeV1(**{**base, **kw})


def refuse(**kw: Any) -> DemandeRefuseeV1:
    base: dict[str, Any] = {
        "demande_message_id": DEMANDE,
        "demande_type": "DemandeMiseEnService",
        "pds": PDS,
        "code": "NIVEAU_ACCES_INSUFFISANT",
        "message": "Déclarez un contrat conclu avant de demander une mise en service.",
        "etape": "referentiel",
    }
    return DemandeRefuseeV1(**{**base, **kw})


def affaire(**kw: Any) -> AffaireStatutChangeV1:
    base: dict[str, Any] = {
        "reference_affaire": REF,
        "type_affaire": TypeAffaire.CHANGEMENT_FOURNISSEUR,
        "pds": PDS,
        "statut": StatutAffaire.EN_COURS,
        "etat": "creee",
    }
    return AffaireStatutChangeV1(**{**base, **kw})


def intervention(**kw: Any) -> InterventionStatutChangeV1:
    base: dict[str, Any] = {
        "reference_affaire": REF,
        "pds": PDS,
        "statut": StatutIntervention.PLANIFIEE,
        "mode": ModeIntervention.CRENEAU,
        "debut": datetime(2026, 3, 3, 7, 0, tzinfo=UTC),
        "fin": datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
    }
    return InterventionStatutChangeV1(**{**base, **kw})


def contrat(**kw: Any) -> ContratEtatChangeV1:
    base: dict[str, Any] = {
        "contrat_id": "CTR-1",
        "pds": PDS,
        "titulaire": "LUMEN",
        "etat": EtatContrat.CESSE,
        "reference_affaire": REF,
        "date_effet": date(2026, 3, 3),
    }
    return ContratEtatChangeV1(**{**base, **kw})


def decide(ev: Evenement, suivi: SuiviAffaire | None = None, env_fournisseur: str | None = "LUMEN", adresse: str | None = LUMEN) -> Decision:
    return decider(
        ev,
        fournisseur=fournisseur_concerne(ev, env_fournisseur),
        adresse_fournisseur=adresse,
        adresse_grd=GRD,
        suivi=suivi or SuiviAffaire(),
        fournisseur_enveloppe=env_fournisseur,
    )


RDV = SuiviAffaire(type_affaire="changement_fournisseur", rdv_planifie=True)
CF = SuiviAffaire(type_affaire="changement_fournisseur")
CESSATION = SuiviAffaire(type_affaire="cessation")

CASES: list[tuple[str, Evenement, SuiviAffaire | None, str | None, tuple[str, str, str] | None]] = [
    # (case, event, follow-up, envelope supplier, (template, recipient, subject fragment) or None when no mail)
    ("acceptee_avec_affaire", accepte(), None, "LUMEN", ("demande_acceptee", LUMEN, f"Demande enregistrée – affaire {REF}")),
    (
        "acceptee_sans_affaire",
        accepte(reference_affaire=None, demande_type="DemandeReclamation"),
        None,
        "LUMEN",
        ("demande_acceptee", LUMEN, f"Demande enregistrée – PDS {PDS}"),
    ),
    ("declaration_acces_sans_mail", accepte(reference_affaire=None, demande_type="DeclarationAcces"), None, "LUMEN", None),
    ("refusee", refuse(), None, "LUMEN", ("demande_refusee", LUMEN, "Demande refusée – NIVEAU_ACCES_INSUFFISANT")),
    ("express_vers_grd", affaire(express=True), None, "LUMEN", ("demande_express", GRD, f"Demande express – affaire {REF}")),
    ("creee_sans_express", affaire(), None, "LUMEN", None),
    ("express_deja_signalee", affaire(express=True), SuiviAffaire(jalons=("express",)), "LUMEN", None),
    (
        "terminee",
        affaire(statut=StatutAffaire.TERMINEE, etat="terminee"),
        None,
        "LUMEN",
        ("affaire_terminee", LUMEN, f"Affaire {REF} terminée"),
    ),
    (
        "terminee_deux_fois",
        affaire(statut=StatutAffaire.TERMINEE, etat="soldee"),
        SuiviAffaire(jalons=("terminee",)),
        "LUMEN",
        None,
    ),
    (
        "annulee",
        affaire(statut=StatutAffaire.ANNULEE, etat="annulee", motif="Annulée à la demande du fournisseur."),
        None,
        "LUMEN",
        ("affaire_annulee", LUMEN, f"Affaire {REF} annulée"),
    ),
    (
        "etude_technique",
        affaire(etat="etude_technique"),
        None,
        "LUMEN",
        ("etude_technique", LUMEN, f"Affaire {REF} – étude technique nécessaire"),
    ),
    ("rdv_planifie", intervention(), None, "LUMEN", ("rdv_planifie", LUMEN, f"Rendez-vous planifié – affaire {REF}")),
    ("rdv_modifie", intervention(), RDV, "LUMEN", ("rdv_modifie", LUMEN, f"Rendez-vous modifié – affaire {REF}")),
    (
        "rdv_annule",
        intervention(statut=StatutIntervention.ANNULEE),
        RDV,
        "LUMEN",
        ("rdv_annule", LUMEN, f"Rendez-vous annulé – affaire {REF}"),
    ),
    ("teleoperation_sans_mail", intervention(mode=ModeIntervention.TELEOPERATION), None, "LUMEN", None),
    ("realisee_sans_mail", intervention(statut=StatutIntervention.REALISEE), RDV, "LUMEN", None),
    (
        "cesse_par_cf_connu",
        contrat(),
        CF,
        "VOLTA",
        ("perte_pds_changement_fournisseur", LUMEN, f"Fin de votre contrat sur le PDS {PDS}"),
    ),
    (
        "cesse_par_cf_devine",
        contrat(reference_affaire=None),
        None,
        "VOLTA",
        ("perte_pds_changement_fournisseur", LUMEN, "changement de fournisseur"),
    ),
    ("cessation_du_titulaire", contrat(), CESSATION, "VOLTA", None),
    ("cessation_sans_type", contrat(), None, "LUMEN", None),
    ("contrat_en_service", contrat(etat=EtatContrat.EN_SERVICE, titulaire="VOLTA"), CF, "VOLTA", None),
]


@pytest.mark.parametrize(("case", "event", "suivi", "env_fournisseur", "expected"), CASES, ids=[c[0] for c in CASES])
def test_template_choice(
    case: str, event: Evenement, suivi: SuiviAffaire | None, env_fournisseur: str | None, expected: tuple[str, str, str] | None
) -> None:
    decision = decide(event, suivi, env_fournisseur)
    if expected is None:
        assert decision.mails == ()
        return
    modele, destinataire, sujet = expected
    [mail] = decision.mails
    assert mail.modele == modele
    assert mail.destinataires == (destinataire,)
    assert sujet in mail.sujet
    assert mail.sujet.startswith("[GRD] ")


@pytest.mark.parametrize(("case", "event", "suivi", "env_fournisseur", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_template_renders(
    case: str, event: Evenement, suivi: SuiviAffaire | None, env_fournisseur: str | None, expected: tuple[str, str, str] | None
) -> None:
    renderer = Renderer()
    for mail in decide(event, suivi, env_fournisseur).mails:
        body = renderer.body(mail)
        assert body.startswith("Bonjour,")
        assert "L'équipe acheminement du GRD" in body
        if mail.reference_affaire:
            assert mail.reference_affaire in body


def test_unknown_supplier_sends_nothing_and_says_why() -> None:
    decision = decide(accepte(), adresse=None, env_fournisseur="INCONNU")
    assert decision.mails == ()
    assert "INCONNU" in decision.ignores[0]


def test_express_goes_to_grd_even_for_unknown_supplier() -> None:
    decision = decide(affaire(express=True), adresse=None, env_fournisseur="INCONNU")
    assert [m.destinataires for m in decision.mails] == [(GRD,)]


def test_follow_up_tracks_appointments() -> None:
    planifie = decide(intervention()).suivi
    assert planifie.rdv_planifie
    assert decide(intervention(), planifie).mails[0].modele == "rdv_modifie"
    annule = decide(intervention(statut=StatutIntervention.ANNULEE), planifie).suivi
    assert not annule.rdv_planifie
    assert decide(intervention(), annule).mails[0].modele == "rdv_planifie"


def test_follow_up_remembers_affaire_type_and_milestones() -> None:
    suivi = decide(affaire(express=True)).suivi
    assert suivi.type_affaire == "changement_fournisseur"
    assert suivi.jalons == ("express",)
    assert SuiviAffaire.from_doc(suivi.to_doc()) == suivi


def test_refusal_body_carries_code_and_message() -> None:
    [mail] = decide(refuse()).mails
    body = Renderer().body(mail)
    assert "NIVEAU_ACCES_INSUFFISANT" in body
    assert "Déclarez un contrat conclu" in body


def test_slot_appointment_shown_in_paris_time() -> None:
    [mail] = decide(intervention()).mails
    body = Renderer().body(mail)
    assert "mardi 3 mars 2026" in body
    assert "de 08h00 à 10h00" in body


def test_half_day_appointment_says_morning_or_afternoon() -> None:
    ev = intervention(
        mode=ModeIntervention.PRESENCE_NON_OBLIGATOIRE,
        debut=datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        fin=datetime(2026, 7, 1, 16, 0, tzinfo=UTC),
    )
    body = Renderer().body(decide(ev).mails[0])
    assert "demi-journée de l'après-midi (de 14h00 à 18h00)" in body
    assert "présence non obligatoire" in body


def test_cf_loss_mail_gives_the_date() -> None:
    body = Renderer().body(decide(contrat(), CF, "VOLTA").mails[0])
    assert "mardi 3 mars 2026" in body
    assert "CTR-1" in body


def test_message_id_is_stable_and_per_template() -> None:
    cause = uuid.uuid4()
    assert message_id_mail(cause, "rdv_planifie") == message_id_mail(str(cause), "rdv_planifie")
    assert message_id_mail(cause, "rdv_planifie") != message_id_mail(cause, "rdv_modifie")
    assert message_id_mail(cause, "x").endswith("@notifications.grd.local>")


def test_message_headers() -> None:
    [mail] = decide(accepte()).mails
    msg = Renderer().message(mail, expediteur="GRD <portail@grd.example>", message_id="<x@y>", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert msg["Message-ID"] == "<x@y>"
    assert msg["To"] == LUMEN
    assert msg["X-GRD-Reference-Affaire"] == REF
    assert REF in str(msg["Subject"])


@pytest.mark.parametrize(("jour", "texte"), [(date(2026, 1, 1), "jeudi 1 janvier 2026"), (date(2026, 8, 15), "samedi 15 août 2026")])
def test_date_fr(jour: date, texte: str) -> None:
    assert date_fr(jour) == texte
