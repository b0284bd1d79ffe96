"""Pure parts of the supplier views: perimeter statuses and dates, the affaires index selection, the CSV form."""

from datetime import date
from typing import Any

import pytest

from platform_kit.vues import csv_de
from services.affaires.store import selection
from services.referentiel.domain.perimetre import FiltrePerimetre, entrees_perimetre, filtrer, ligne

TODAY = date(2026, 11, 30)
ADRESSE = {"numero": "3", "voie": "Rue des Écoles", "code_postal": "38000", "commune": "Grenoble", "complement": ""}


def pds(titulaires: list[dict[str, Any]], en_souscription: list[dict[str, Any]] = (), etat: str = "en_service") -> dict[str, Any]:  # type: ignore[assignment]
    """A PDS state as the référentiel keeps it."""
    return {
        "reference": "30000000000042EC1",
        "adresse": ADRESSE,
        "etat": etat,
        "segment": "C5",
        "titulaires": titulaires,
        "en_souscription": list(en_souscription),
    }


VOLTA_OUVERT = {"fournisseur": "VOLTA", "contrat_id": "CT-1", "debut": "2025-01-01", "fin": None}
LUMEN_FERME = {"fournisseur": "LUMEN", "contrat_id": "CT-0", "debut": "2020-01-01", "fin": "2025-01-01"}

STATUTS = [
    # state, supplier, expected status, début, fin
    ("titulaire", pds([LUMEN_FERME, VOLTA_OUVERT]), "VOLTA", "titulaire", "2025-01-01", None),
    ("ancien", pds([LUMEN_FERME, VOLTA_OUVERT]), "LUMEN", "ancien", "2020-01-01", "2025-01-01"),
    (
        "entrant",
        pds([VOLTA_OUVERT], [{"fournisseur": "WATTPLUS", "contrat_id": "CT-2", "date_effet": "2026-12-10"}]),
        "WATTPLUS",
        "entrant",
        "2026-12-10",
        None,
    ),
    (
        "sortant par CF",
        pds([VOLTA_OUVERT], [{"fournisseur": "WATTPLUS", "contrat_id": "CT-2", "date_effet": "2026-12-10"}]),
        "VOLTA",
        "sortant",
        "2025-01-01",
        "2026-12-10",
    ),
    ("sortant par cessation", pds([VOLTA_OUVERT], etat="en_cours_de_resiliation"), "VOLTA", "sortant", "2025-01-01", None),
    (
        "fin future",
        pds([{**VOLTA_OUVERT, "fin": "2026-12-31"}]),
        "VOLTA",
        "sortant",
        "2025-01-01",
        "2026-12-31",
    ),
]


@pytest.mark.parametrize(("state", "fournisseur", "statut", "debut", "fin"), [r[1:] for r in STATUTS], ids=[r[0] for r in STATUTS])
def test_perimeter_status_and_dates(state: dict[str, Any], fournisseur: str, statut: str, debut: str | None, fin: str | None) -> None:
    entree = entrees_perimetre(state)[fournisseur]
    li = ligne(entree, TODAY)
    assert (li.statut, li.date_debut, li.date_fin) == (statut, debut, fin)


def test_perimeter_has_an_entry_for_every_supplier_who_held_holds_or_enters_and_nobody_else() -> None:
    state = pds([LUMEN_FERME, VOLTA_OUVERT], [{"fournisseur": "WATTPLUS", "contrat_id": "CT-2", "date_effet": "2026-12-10"}])
    assert sorted(entrees_perimetre(state)) == ["LUMEN", "VOLTA", "WATTPLUS"]


@pytest.mark.parametrize(
    ("filtre", "trouve"),
    [
        (FiltrePerimetre(), True),
        (FiltrePerimetre(commune="grenoble"), True),
        (FiltrePerimetre(voie="rue des ecoles"), True),
        (FiltrePerimetre(code_postal="38100"), False),
        (FiltrePerimetre(statuts=("ancien",)), False),
        (FiltrePerimetre(statuts=("titulaire", "sortant")), True),
    ],
)
def test_perimeter_filters_without_a_complete_address(filtre: FiltrePerimetre, trouve: bool) -> None:
    entrees = {"30000000000042EC1": entrees_perimetre(pds([VOLTA_OUVERT]))["VOLTA"]}
    assert bool(filtrer(entrees, filtre, TODAY)) is trouve


def test_affaires_index_selection_filters_and_orders_newest_first() -> None:
    entrees = {
        "A1": {"type_affaire": "cessation", "statut": "en_cours", "pds": "P1", "annulable": True, "cree_le": "2026-11-01T10:00:00Z"},
        "A2": {"type_affaire": "cessation", "statut": "terminee", "pds": "P1", "annulable": False, "cree_le": "2026-11-03T10:00:00Z"},
        "A3": {"type_affaire": "reclamation", "statut": "en_cours", "pds": "P2", "annulable": True, "cree_le": "2026-11-03T10:00:00Z"},
    }
    assert selection(entrees, {}) == ["A2", "A3", "A1"]
    assert selection(entrees, {"type_affaire": "cessation"}) == ["A2", "A1"]
    assert selection(entrees, {"annulable": True, "fournisseur": "ignored"}) == ["A3", "A1"]
    assert selection(entrees, {"_id": "A3"}) == ["A3"]
    assert selection(entrees, {"pds": "P3"}) == []


def test_csv_has_a_header_semicolons_and_readable_cells() -> None:
    texte = csv_de([{"a": "x;y", "b": True, "c": None, "d": {"k": 1}}], ["a", "b", "c", "d"])
    assert texte.splitlines() == ["a;b;c;d", '"x;y";oui;;"{""k"": 1}"']
