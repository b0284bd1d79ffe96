"""Unit tests of the pure planification rules: calendar, mode decision, lifecycle and every refusal code."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.common import IndexCadran, ModeIntervention, OperationTechnique, StatutIntervention
from contracts.demandes import DeplanificationV1, ReservationCreneauV1
from contracts.evenements import (
    BesoinIntervention,
    CompteurInfo,
    ContextePds,
    DemandeQualifieeV1,
    InterventionDemandeeV1,
    InterventionNonRealiseeV1,
    InterventionRealiseeV1,
    InterventionStatutChangeV1,
    ResultatTeleOperationV1,
    TeleOperationDemandeeV1,
)
from contracts.refus import Refus
from services.planification import domain as d

TODAY = date(2026, 11, 2)  # a Monday
REGLES_TO = d.ReglesTeleoperation()
JOUR_EFFET = datetime(2026, 11, 10, 7, 0, tzinfo=UTC)
CAL = d.Calendrier(zones=("Z01", "Z02"), places_par_defaut=3, places_par_zone={"Z02": 5})
PDS = "30000000000001EC1"
MODE = ModeIntervention
OP = OperationTechnique


def compteur(amm: bool = False, localisation: str = "interieur", releve: str = "sur_site", teleoperable: bool = True) -> CompteurInfo:
    return CompteurInfo(reference="CPT1", amm=amm, localisation=localisation, mode_releve=releve, teleoperable=teleoperable)


def besoin(mode: ModeIntervention = MODE.CRENEAU, op: OperationTechnique = OP.CHANGEMENT_FOURNISSEUR, kva: float = 0) -> BesoinIntervention:
    return BesoinIntervention(mode=mode, operation=op, date_souhaitee=date(2026, 11, 10), duree_minutes=0, augmentation_puissance_kva=kva)


def commande(b: BesoinIntervention | None = None, c: CompteurInfo | None = None) -> InterventionDemandeeV1:
    return InterventionDemandeeV1(reference_affaire="AREF1", pds=PDS, besoin=b or besoin(), zone="Z01", compteur=c or compteur())


def intervention(**kw: object) -> d.Intervention:
    base = d.recevoir_intervention(commande(), "LUMEN", CAL, TODAY).etat
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def qualifiee(demande_type: str = "ReservationCreneau") -> DemandeQualifieeV1:
    ctx = ContextePds(
        pds=PDS,
        segment="C5",
        niveau_tension="BT",
        etat="en_service",
        coupe_pour_non_paiement=False,
        zone="Z01",
        compteur=compteur(),
    )
    return DemandeQualifieeV1(demande_message_id=uuid.uuid4(), demande_type=demande_type, demande={}, niveau_acces="titulaire", contexte=ctx)


@pytest.mark.parametrize(
    ("b", "c", "attendu"),
    [
        (besoin(MODE.TELEOPERATION), compteur(amm=True, releve="telereleve"), MODE.TELEOPERATION),
        (besoin(MODE.TELEOPERATION), compteur(amm=True, releve="telereleve", teleoperable=False), MODE.PRESENCE_NON_OBLIGATOIRE),
        (besoin(MODE.TELEOPERATION), compteur(amm=False), MODE.CRENEAU),
        (besoin(MODE.PRESENCE_NON_OBLIGATOIRE), compteur(localisation="exterieur"), MODE.PRESENCE_NON_OBLIGATOIRE),
        (besoin(MODE.PRESENCE_NON_OBLIGATOIRE), compteur(releve="telereleve"), MODE.PRESENCE_NON_OBLIGATOIRE),
        # The appointment mode is decided once, by the sender (contracts.programmation.mode_rendez_vous), and kept here:
        # planification no longer overrides a présence non obligatoire of a cessation, a modification or an intervention.
        (besoin(MODE.PRESENCE_NON_OBLIGATOIRE, OP.CESSATION), compteur(localisation="exterieur"), MODE.PRESENCE_NON_OBLIGATOIRE),
        (besoin(MODE.PRESENCE_NON_OBLIGATOIRE, OP.MODIFICATION), compteur(localisation="exterieur"), MODE.PRESENCE_NON_OBLIGATOIRE),
        (besoin(MODE.CRENEAU, OP.MISE_EN_SERVICE), compteur(localisation="exterieur"), MODE.CRENEAU),
        (besoin(MODE.TELEOPERATION, kva=3), compteur(amm=False, localisation="exterieur"), MODE.CRENEAU),
        (besoin(MODE.CRENEAU), compteur(localisation="exterieur"), MODE.CRENEAU),
    ],
)
def test_mode_decided_by_the_platform(b: BesoinIntervention, c: CompteurInfo, attendu: ModeIntervention) -> None:
    assert d.decider_mode(b, c) == attendu


@pytest.mark.parametrize(
    ("ident", "valide"),
    [
        ("Z01-20261105-H0800-CR", True),
        ("Z01-20261105-PM-PNO", True),
        ("Z01-20261107-H0800-CR", False),  # Saturday
        ("Z01-20261108-H1330-CR", False),  # Sunday
        ("Z09-20261105-H0800-CR", False),  # unknown zone
        ("Z01-20261105-XX-CR", False),
        # « Sur créneau horaire » is a 2-hour window (product-owner decision), not a half-day: H0800, H1000, H1330, H1530.
        ("Z01-20261105-H1000-CR", True),
        ("Z01-20261105-H1530-CR", True),
        ("Z01-20261105-AM-CR", False),
        ("Z01-20261105-H0900-CR", False),
        ("Z01-20261105-H0800-PNO", False),
        ("Z01-20261105-AM-ZZ", False),
        ("Z01-20261332-H0800-CR", False),
        ("n'importe quoi", False),
    ],
)
def test_slot_ids_exist_only_on_working_days_of_known_zones(ident: str, valide: bool) -> None:
    assert (d.lire_creneau(CAL, ident) is not None) is valide


def test_slot_capacity_and_hours_follow_the_calendar() -> None:
    slot = d.lire_creneau(CAL, "Z02-20261105-H1330-CR")
    assert slot is not None
    assert slot.capacite == 5
    assert (slot.debut.hour, slot.debut.minute, slot.fin.hour, slot.fin.minute) == (13, 30, 15, 30)
    demi = d.lire_creneau(CAL, "Z02-20261105-PM-PNO")
    assert demi is not None and (demi.debut.hour, demi.debut.minute, demi.fin.hour, demi.fin.minute) == (13, 30, 17, 30)
    assert slot.debut.utcoffset() is not None
    assert d.lire_creneau(CAL, "Z01-20261105-H0800-CR").capacite == 3  # type: ignore[union-attr]


def test_slot_search_skips_weekends_and_starts_after_the_minimum_delay() -> None:
    slots = d.creneaux_a_partir(CAL, "Z01", MODE.CRENEAU, TODAY, TODAY, 7)
    jours = sorted({s.jour for s in slots})
    assert jours[0] == date(2026, 11, 3)
    assert all(j.weekday() < 5 for j in jours)
    assert len(slots) == 4 * len(jours)  # four 2-hour créneaux a day
    assert all(s.fin - s.debut == timedelta(hours=2) for s in slots)
    assert len(d.creneaux_a_partir(CAL, "Z01", MODE.PRESENCE_NON_OBLIGATOIRE, TODAY, TODAY, 7)) == 2 * len(jours)
    assert d.creneaux_a_partir(CAL, "Z01", MODE.TELEOPERATION, TODAY, TODAY, 7) == []


def test_custom_working_days() -> None:
    cal = dataclasses.replace(CAL, jours_ouvres=frozenset({5}))
    assert d.lire_creneau(cal, "Z01-20261107-H0800-CR") is not None
    assert d.lire_creneau(cal, "Z01-20261105-H0800-CR") is None


def test_power_increase_above_6_kva_needs_a_technical_study() -> None:
    dec = d.recevoir_intervention(commande(besoin(kva=9)), "LUMEN", CAL, TODAY)
    assert dec.etat.statut == StatutIntervention.ETUDE_TECHNIQUE
    assert "étude technique" in (dec.etat.motif or "")
    assert not dec.candidats
    assert [type(e) for e in dec.evenements] == [InterventionStatutChangeV1]


def test_teleoperation_waits_for_its_date_d_effet_then_is_sent_by_the_due_job() -> None:
    dec = d.recevoir_intervention(commande(besoin(MODE.TELEOPERATION), compteur(amm=True, releve="telereleve")), "LUMEN", CAL, TODAY)
    assert [type(e).__name__ for e in dec.evenements] == ["InterventionStatutChangeV1"]
    assert dec.etat.statut == StatutIntervention.DEMANDEE and dec.etat.to_tentatives == 0
    assert dec.etat.prochaine_echeance == d.debut_du_jour(date(2026, 11, 10))
    veille = datetime(2026, 11, 9, 22, 59, tzinfo=UTC)  # 23:59 in Paris, the day before
    assert d.echoir(dec.etat, veille, date(2026, 11, 9), REGLES_TO) is None
    jour = datetime(2026, 11, 10, 7, 0, tzinfo=UTC)
    envoi = d.echoir(dec.etat, jour, date(2026, 11, 10), REGLES_TO)
    assert envoi is not None
    [to] = envoi.evenements
    assert isinstance(to, TeleOperationDemandeeV1) and to.date_effet == date(2026, 11, 10) and to.tentative == 1
    assert envoi.etat.to_tentatives == 1 and envoi.etat.prochaine_echeance == jour + REGLES_TO.delai_reponse


def test_presence_non_obligatoire_offers_half_days_from_the_desired_date() -> None:
    dec = d.recevoir_intervention(commande(besoin(MODE.PRESENCE_NON_OBLIGATOIRE), compteur(localisation="exterieur")), "L", CAL, TODAY)
    assert dec.evenements == []
    assert dec.candidats[0].id == "Z01-20261110-AM-PNO"
    planned = d.planifier(dec.etat, dec.candidats[0])
    assert planned.etat.statut == StatutIntervention.PLANIFIEE
    assert planned.etat.creneau_id == "Z01-20261110-AM-PNO"
    assert d.sans_demi_journee(dec.etat).etat.statut == StatutIntervention.DEMANDEE


def test_creneau_mode_waits_for_the_supplier_reservation() -> None:
    dec = d.recevoir_intervention(commande(), "LUMEN", CAL, TODAY)
    assert dec.etat.mode == MODE.CRENEAU
    assert dec.etat.statut == StatutIntervention.DEMANDEE
    assert dec.etat.duree_minutes == d.DUREES_MINUTES[OP.CHANGEMENT_FOURNISSEUR]


def resa(creneau_id: str = "Z01-20261110-H0800-CR", ref: str = "AREF1", pds: str = PDS) -> ReservationCreneauV1:
    return ReservationCreneauV1(pds=pds, reference_affaire=ref, creneau_id=creneau_id)


@pytest.mark.parametrize(
    ("etat", "cmd", "fournisseur", "code"),
    [
        (None, resa(), "LUMEN", "INTERVENTION_INCONNUE"),
        (intervention(), resa(pds="30000000000002EC1"), "LUMEN", "INTERVENTION_INCONNUE"),
        (intervention(), resa(), "VOLTA", "AFFAIRE_AUTRE_FOURNISSEUR"),
        (intervention(statut=StatutIntervention.ETUDE_TECHNIQUE), resa(), "LUMEN", "ETUDE_TECHNIQUE_REQUISE"),
        (intervention(mode=MODE.TELEOPERATION), resa(), "LUMEN", "INTERVENTION_NON_PLANIFIABLE"),
        (intervention(statut=StatutIntervention.REALISEE), resa(), "LUMEN", "INTERVENTION_NON_PLANIFIABLE"),
        (intervention(statut=StatutIntervention.ANNULEE), resa(), "LUMEN", "INTERVENTION_NON_PLANIFIABLE"),
        (intervention(), resa("Z01-20261107-H0800-CR"), "LUMEN", "CRENEAU_INCONNU"),
        (intervention(), resa("Z02-20261110-H0800-CR"), "LUMEN", "CRENEAU_INCONNU"),
        (intervention(), resa("Z01-20261110-AM-PNO"), "LUMEN", "MODE_PLANIFICATION_INCOMPATIBLE"),
        (intervention(mode=MODE.PRESENCE_NON_OBLIGATOIRE), resa(), "LUMEN", "MODE_PLANIFICATION_INCOMPATIBLE"),
        (intervention(), resa("Z01-20261106-H0800-CR"), "LUMEN", "CRENEAU_AVANT_DATE_EFFET"),
        (intervention(date_souhaitee=TODAY), resa("Z01-20261102-H0800-CR"), "LUMEN", "CRENEAU_HORS_DELAI"),
        (intervention(), resa("Z01-20270301-H0800-CR"), "LUMEN", "CRENEAU_HORS_DELAI"),
    ],
)
def test_reservation_refusals(etat: d.Intervention | None, cmd: ReservationCreneauV1, fournisseur: str, code: str) -> None:
    verdict = d.verifier_reservation(etat, cmd, fournisseur, CAL, TODAY)
    assert isinstance(verdict, Refus)
    assert verdict.code == code
    assert verdict.message


@pytest.mark.parametrize("statut", [StatutIntervention.DEMANDEE, StatutIntervention.PLANIFIEE, StatutIntervention.NON_REALISEE])
def test_reservation_accepted_from_reservable_states(statut: StatutIntervention) -> None:
    verdict = d.verifier_reservation(intervention(statut=statut), resa(), "LUMEN", CAL, TODAY)
    assert isinstance(verdict, d.Creneau)
    assert verdict.id == "Z01-20261110-H0800-CR"


def test_full_slot_refusal_and_outcome_events() -> None:
    slot = d.lire_creneau(CAL, "Z01-20261110-H0800-CR")
    assert slot is not None
    q = qualifiee()
    r = d.refus(q, PDS, d.creneau_complet(slot))
    assert (r.code, r.etape) == ("CRENEAU_COMPLET", "planification")
    a = d.acceptation(q, PDS, "AREF1", d.message_planifiee(slot))
    assert a.reference_affaire == "AREF1"
    assert "10/11/2026" in a.message


@pytest.mark.parametrize(
    ("etat", "fournisseur", "code"),
    [
        (None, "LUMEN", "INTERVENTION_INCONNUE"),
        (intervention(statut=StatutIntervention.PLANIFIEE), "VOLTA", "AFFAIRE_AUTRE_FOURNISSEUR"),
        (intervention(), "LUMEN", "INTERVENTION_NON_PLANIFIEE"),
        (intervention(statut=StatutIntervention.ETUDE_TECHNIQUE), "LUMEN", "ETUDE_TECHNIQUE_REQUISE"),
    ],
)
def test_deplanification_refusals(etat: d.Intervention | None, fournisseur: str, code: str) -> None:
    verdict = d.verifier_deplanification(etat, DeplanificationV1(pds=PDS, reference_affaire="AREF1"), fournisseur)
    assert isinstance(verdict, Refus)
    assert verdict.code == code


def test_deplanification_frees_the_slot() -> None:
    planned = intervention(statut=StatutIntervention.PLANIFIEE, creneau_id="Z01-20261110-H0800-CR")
    verdict = d.verifier_deplanification(planned, DeplanificationV1(pds=PDS, reference_affaire="AREF1"), "LUMEN")
    assert verdict == planned
    dec = d.deplanifier(planned)
    assert (dec.etat.statut, dec.etat.creneau_id) == (StatutIntervention.DEMANDEE, None)


def _envoyee(tentatives: int = 1) -> d.Intervention:
    return intervention(mode=MODE.TELEOPERATION, to_tentatives=tentatives, prochaine_echeance=JOUR_EFFET + REGLES_TO.delai_reponse)


def _resultat(succes: bool = True, jour: date = date(2026, 11, 10), tentative: int = 1) -> ResultatTeleOperationV1:
    index = (IndexCadran(cadran="BASE", valeur=1234),) if succes else None
    return ResultatTeleOperationV1(
        reference_affaire="AREF1", pds=PDS, succes=succes, date_realisation=jour if succes else None, index=index,
        motif_echec=None if succes else "injoignable", tentative=tentative,
    )


def test_teleoperation_success_is_realisee_with_a_real_reading() -> None:
    ok = d.resultat_teleoperation(_envoyee(), _resultat(), JOUR_EFFET, date(2026, 11, 10), REGLES_TO)
    assert ok is not None and ok.etat.statut == StatutIntervention.REALISEE and ok.etat.prochaine_echeance is None
    assert ok.etat.releve is not None and ok.etat.releve.nature == "reelle" and ok.etat.releve.date_releve == date(2026, 11, 10)
    assert d.resultat_teleoperation(ok.etat, _resultat(), JOUR_EFFET, date(2026, 11, 10), REGLES_TO) is None


def test_teleoperation_result_dated_in_the_future_is_parked_until_its_day() -> None:
    parked = d.resultat_teleoperation(_envoyee(), _resultat(jour=date(2026, 11, 12)), JOUR_EFFET, date(2026, 11, 10), REGLES_TO)
    assert parked is not None and parked.evenements == [] and parked.etat.statut == StatutIntervention.DEMANDEE
    assert d.echoir(parked.etat, datetime(2026, 11, 11, 12, tzinfo=UTC), date(2026, 11, 11), REGLES_TO) is None
    done = d.echoir(parked.etat, datetime(2026, 11, 12, 1, tzinfo=UTC), date(2026, 11, 12), REGLES_TO)
    assert done is not None and done.etat.statut == StatutIntervention.REALISEE and done.etat.date_realisation == date(2026, 11, 12)


def test_failed_teleoperation_is_retried_then_given_up_a_planifier() -> None:
    etat = _envoyee()
    for tentative in range(1, REGLES_TO.tentatives_max):
        echec = d.resultat_teleoperation(etat, _resultat(False, tentative=tentative), JOUR_EFFET, date(2026, 11, 10), REGLES_TO)
        assert echec is not None and echec.evenements == [] and echec.etat.mode == MODE.TELEOPERATION
        assert echec.etat.prochaine_echeance == JOUR_EFFET + REGLES_TO.delai_nouvel_essai
        renvoi = d.echoir(echec.etat, JOUR_EFFET + REGLES_TO.delai_nouvel_essai, date(2026, 11, 10), REGLES_TO)
        assert renvoi is not None and isinstance(renvoi.evenements[0], TeleOperationDemandeeV1)
        assert renvoi.evenements[0].tentative == tentative + 1
        etat = renvoi.etat
    stale = d.resultat_teleoperation(etat, _resultat(False, tentative=1), JOUR_EFFET, date(2026, 11, 10), REGLES_TO)
    assert stale is None, "a late failure of an attempt already replaced changes nothing"
    abandon = d.resultat_teleoperation(etat, _resultat(False, tentative=etat.to_tentatives), JOUR_EFFET, date(2026, 11, 10), REGLES_TO)
    assert abandon is not None
    assert (abandon.etat.mode, abandon.etat.statut, abandon.etat.prochaine_echeance) == (MODE.CRENEAU, StatutIntervention.DEMANDEE, None)
    assert abandon.etat.motif is not None and "convenir d'un rendez-vous" in abandon.etat.motif
    [evt] = abandon.evenements
    assert isinstance(evt, InterventionStatutChangeV1) and evt.mode == MODE.CRENEAU


def test_lost_teleoperation_is_sent_again_after_the_answer_timeout_then_given_up() -> None:
    etat = _envoyee()
    assert d.echoir(etat, JOUR_EFFET + REGLES_TO.delai_reponse - timedelta(seconds=1), date(2026, 11, 10), REGLES_TO) is None
    for tentative in range(2, REGLES_TO.tentatives_max + 1):
        assert etat.prochaine_echeance is not None
        renvoi = d.echoir(etat, etat.prochaine_echeance, date(2026, 11, 10), REGLES_TO)
        assert renvoi is not None and isinstance(renvoi.evenements[0], TeleOperationDemandeeV1) and renvoi.evenements[0].tentative == tentative
        etat = renvoi.etat
    assert etat.prochaine_echeance is not None
    abandon = d.echoir(etat, etat.prochaine_echeance, date(2026, 11, 10), REGLES_TO)
    assert abandon is not None and abandon.etat.mode == MODE.CRENEAU and "aucune réponse" in (abandon.etat.motif or "")


def test_realisation_dates_in_the_future_or_before_the_date_d_effet_are_refused() -> None:
    etat = intervention(statut=StatutIntervention.PLANIFIEE)
    futur = d.refus_date_realisation(etat, date(2026, 11, 11), date(2026, 11, 10))
    assert futur is not None and futur.code == "REALISATION_DATE_FUTURE"
    avant = d.refus_date_realisation(etat, date(2026, 11, 9), date(2026, 11, 10))
    assert avant is not None and avant.code == "REALISATION_AVANT_DATE_EFFET"
    assert d.refus_date_realisation(etat, date(2026, 11, 10), date(2026, 11, 10)) is None


def test_technician_results() -> None:
    planned = intervention(statut=StatutIntervention.PLANIFIEE, creneau_id="Z01-20261110-H0800-CR")
    done = d.realisee(
        planned,
        InterventionRealiseeV1(
            reference_affaire="AREF1",
            pds=PDS,
            date_realisation=date(2026, 11, 10),
            index=(IndexCadran(cadran="HP", valeur=5),),
            compte_rendu="ok",
        ),
    )
    assert done is not None and done.etat.statut == StatutIntervention.REALISEE
    failed = d.non_realisee(planned, InterventionNonRealiseeV1(reference_affaire="AREF1", pds=PDS, motif="client absent"))
    assert failed is not None
    assert (failed.etat.statut, failed.etat.creneau_id, failed.etat.motif) == (
        StatutIntervention.NON_REALISEE,
        None,
        "client absent",
    )
    assert d.non_realisee(done.etat, InterventionNonRealiseeV1(reference_affaire="AREF1", pds=PDS, motif="x")) is None


def test_cancellation() -> None:
    dec = d.annuler(intervention(statut=StatutIntervention.PLANIFIEE, creneau_id="Z01-20261110-H0800-CR"))
    assert dec is not None and dec.etat.statut == StatutIntervention.ANNULEE and dec.etat.creneau_id is None
    assert d.annuler(dec.etat) is None


def test_state_round_trips_through_the_store_representation() -> None:
    slot = d.lire_creneau(CAL, "Z01-20261110-H0800-CR")
    assert slot is not None
    etat = d.planifier(intervention(), slot).etat
    assert d.Intervention.from_doc(etat.to_doc()) == etat
    assert d.Intervention.from_doc({}) is None
