"""Unit tests of the meter head-end simulator's pure behaviour."""

from __future__ import annotations

from datetime import date

from contracts.common import OperationTechnique
from contracts.evenements import TeleOperationDemandeeV1
from demo_data.generator import generate, pds_reference
from simulators.si_comptage.domain import MOTIF_INJOIGNABLE, en_echec, executer, index_reel, numero_pds


def cmd(pds: str) -> TeleOperationDemandeeV1:
    return TeleOperationDemandeeV1(
        reference_affaire="AREF",
        pds=pds,
        compteur="CPT",
        operation=OperationTechnique.CHANGEMENT_FOURNISSEUR,
        date_effet=date(2026, 11, 20),
    )


def test_demo_pds_index_continues_its_last_reading() -> None:
    gen = generate(42)
    dernier = max(gen.releves, key=lambda r: r.date_releve)
    index = index_reel(pds_reference(42), date(2026, 11, 20), 9)
    assert {i.cadran for i in index} == set(dernier.index)
    assert all(i.valeur >= dernier.index[i.cadran] for i in index)
    assert index == index_reel(pds_reference(42), date(2026, 11, 20), 9)


def test_unknown_pds_gets_a_deterministic_base_index() -> None:
    assert numero_pds("XYZ") is None
    assert index_reel("XYZ", date(2026, 11, 20), 9) == index_reel("XYZ", date(2026, 11, 20), 9)


def test_failure_rules() -> None:
    assert en_echec("P1", ["P1"], 0)
    assert en_echec(pds_reference(34), [], 17)
    assert not en_echec(pds_reference(35), [], 17)
    assert not en_echec(pds_reference(34), [], 0)


def test_result_success_and_failure() -> None:
    ok = executer(cmd(pds_reference(5)), [], 0, 9)
    assert ok.succes and ok.date_realisation == date(2026, 11, 20) and ok.index
    ko = executer(cmd(pds_reference(5)), [pds_reference(5)], 0, 9)
    assert not ko.succes and ko.motif_echec == MOTIF_INJOIGNABLE and ko.index is None
