"""Supervision's pure logic: flow summaries and percentiles, backlog deadlines, dead-letter transitions, lane parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.supervision.domain import (
    Delais,
    TransitionRefusee,
    classe_latence,
    lire_origine,
    minute,
    percentile,
    resumer_backlog,
    resumer_flux,
    retard,
    transition,
)
from services.supervision.probes import lire_services, lire_voies

NOW = datetime(2026, 3, 10, 12, 30, 20, tzinfo=UTC)


def test_latency_classes_and_percentiles_read_the_upper_bound_of_the_class_holding_the_quantile() -> None:
    assert classe_latence(0.01) == "0_05" and classe_latence(0.3) == "0_5" and classe_latence(7200) == "inf"
    classes = {"0_1": 90, "1": 9, "10": 1}
    assert percentile(classes, 0.5) == 0.1
    assert percentile(classes, 0.95) == 1
    assert percentile(classes, 0.999) == 10
    assert percentile({}, 0.5) is None
    assert percentile({"inf": 1}, 0.5) == float("inf")


def test_flow_summary_sums_the_window_by_type_and_ranks_refusal_codes() -> None:
    buckets = [
        {"_id": minute(NOW), "recues": {"CF": 3}, "acceptees": {"CF": 2}, "refusees": {"CF": 1}, "codes": {"PDS_INCONNU": 1}, "latences": {"0_5": 3}},
        {"_id": minute(NOW - timedelta(minutes=2)), "recues": {"MES": 1}, "refusees": {"MES": 1}, "codes": {"NIVEAU": 2, "PDS_INCONNU": 1}},
        # Outside a 5-minute window: ignored.
        {"_id": minute(NOW - timedelta(minutes=9)), "recues": {"CF": 100}},
    ]
    resume = resumer_flux(buckets, NOW, 5)
    assert [m.minute for m in resume.minutes][:2] == ["2026-03-10T12:30", "2026-03-10T12:29"] and len(resume.minutes) == 5
    assert resume.par_type == {"CF": {"recues": 3, "acceptees": 2, "refusees": 1}, "MES": {"recues": 1, "acceptees": 0, "refusees": 1}}
    assert resume.codes == [("NIVEAU", 2), ("PDS_INCONNU", 2)]  # most frequent first, ties by code
    assert resume.latence == {"p50": 0.5, "p95": 0.5, "p99": 0.5} and resume.mesures == 3


def affaire(type_affaire: str, etat: str, age: timedelta, dans_etat: timedelta | None = None) -> dict[str, object]:
    return {
        "_id": f"AFF-{type_affaire}-{etat}",
        "type_affaire": type_affaire,
        "statut": "en_cours",
        "etat": etat,
        "cree_le": NOW - age,
        "etat_depuis": NOW - (dans_etat if dans_etat is not None else age),
    }


def test_a_changement_de_fournisseur_is_late_21_days_after_its_demand() -> None:
    delais = Delais()
    assert retard(affaire("changement_fournisseur", "en_attente_date_effet", timedelta(days=20)), NOW, delais) is None
    assert "21 jours" in str(retard(affaire("changement_fournisseur", "en_attente_date_effet", timedelta(days=22)), NOW, delais))


def test_an_intervention_or_study_waiting_too_long_is_late_whatever_the_affaire_age() -> None:
    delais = Delais(intervention_heures=48, etude_jours=30)
    attente = affaire("mise_en_service", "en_attente_intervention", timedelta(days=3), timedelta(hours=50))
    assert "sans réponse" in str(retard(attente, NOW, delais))
    assert retard(affaire("mise_en_service", "en_attente_intervention", timedelta(days=3), timedelta(hours=10)), NOW, delais) is None
    assert "étude technique" in str(retard(affaire("modification_contrat", "etude_technique", timedelta(days=31)), NOW, delais))
    assert retard({**attente, "statut": "terminee"}, NOW, delais) is None


def test_backlog_groups_open_affaires_by_type_and_state_with_the_oldest_age() -> None:
    affaires = [
        affaire("reclamation", "creee", timedelta(days=2)),
        {**affaire("reclamation", "creee", timedelta(days=5)), "_id": "AFF-2"},
        affaire("changement_fournisseur", "en_attente_date_effet", timedelta(days=25)),
    ]
    resume = resumer_backlog(affaires, NOW, Delais())
    assert resume.ouvertes == 3
    groupes = {(g.type_affaire, g.etat): (g.nombre, g.plus_ancienne) for g in resume.groupes}
    assert groupes[("reclamation", "creee")] == (2, timedelta(days=5))
    assert [a["type_affaire"] for a in resume.en_retard] == ["changement_fournisseur"]


def test_a_dead_letter_is_redriven_or_discarded_once() -> None:
    assert transition("a_traiter", "reemettre") == "reemission"
    assert transition("reemission", "confirmer") == "reemise"
    assert transition("reemission", "annuler_reemission") == "a_traiter"
    assert transition("a_traiter", "ecarter") == "ecartee"
    for etat, action in [("reemission", "reemettre"), ("reemise", "reemettre"), ("ecartee", "reemettre"), ("reemise", "ecarter")]:
        with pytest.raises(TransitionRefusee):
            transition(etat, action)


def test_origin_header_and_services_setting_are_parsed() -> None:
    assert lire_origine("grd.demandes.v1/2/41") == ("grd.demandes.v1", 2, 41)
    assert lire_origine("?") == ("?", None, None)
    assert lire_services("a=http://h:1/, b = http://h:2") == {"a": "http://h:1", "b": "http://h:2"}


def test_lanes_are_read_from_a_services_metrics_stalled_first() -> None:
    texte = "\n".join(
        [
            "# HELP grd_lane_stalled x",
            "# TYPE grd_lane_stalled gauge",
            'grd_lane_stalled{service="contrats",group="contrats.demandes",topic="t",partition="0"} 0.0',
            'grd_lane_stalled{service="contrats",group="contrats.demandes",topic="t",partition="1"} 1.0',
            "# HELP grd_lane_records_total x",
            "# TYPE grd_lane_records_total counter",
            'grd_lane_records_total{service="contrats",group="contrats.demandes",topic="t",partition="0"} 12.0',
        ]
    )
    voies = lire_voies("contrats", texte)
    assert [(v["partition"], v["bloquee"], v["traites"]) for v in voies] == [("1", True, 0), ("0", False, 12)]
