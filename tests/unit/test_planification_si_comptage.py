"""Unit tests of the meter head-end simulator's pure behaviour: per-meter state, operations, failures and losses."""

from __future__ import annotations

from datetime import date

from contracts.common import OperationTechnique
from contracts.evenements import TeleOperationDemandeeV1
from demo_data.generator import generate, pds_reference
from simulators.si_comptage.domain import ACTIF, COUPE, MOTIF_INJOIGNABLE, Compteur, Regles, en_echec, executer, index_reel, numero_pds

JOUR = date(2026, 11, 20)
REGLES = Regles()


def cmd(pds: str, op: OperationTechnique = OperationTechnique.CHANGEMENT_FOURNISSEUR, **kw: object) -> TeleOperationDemandeeV1:
    base: dict[str, object] = {"reference_affaire": "AREF", "pds": pds, "compteur": "CPT", "operation": op, "date_effet": JOUR}
    return TeleOperationDemandeeV1.model_validate(base | kw)


def test_demo_pds_index_continues_its_last_reading() -> None:
    gen = generate(42)
    dernier = max(gen.releves, key=lambda r: r.date_releve)
    index = index_reel(pds_reference(42), JOUR, 9)
    assert {i.cadran for i in index} == set(dernier.index)
    assert all(i.valeur >= dernier.index[i.cadran] for i in index)
    assert index == index_reel(pds_reference(42), JOUR, 9)


def test_unknown_pds_gets_a_deterministic_base_index() -> None:
    assert numero_pds("XYZ") is None
    assert index_reel("XYZ", JOUR, 9) == index_reel("XYZ", JOUR, 9)


def test_failure_rules() -> None:
    assert en_echec("P1", ["P1"], 0)
    assert en_echec(pds_reference(34), [], 17)
    assert not en_echec(pds_reference(35), [], 17)
    assert not en_echec(pds_reference(34), [], 0)


def test_executes_on_the_day_it_is_asked_with_a_real_index() -> None:
    compteur, ok = executer(cmd(pds_reference(5)), None, JOUR, REGLES)
    assert ok is not None and ok.succes and ok.date_realisation == JOUR and ok.index and ok.tentative == 1
    assert compteur is not None and compteur.etat == ACTIF and compteur.jour == JOUR
    _, ko = executer(cmd(pds_reference(5)), None, JOUR, Regles(pds_en_echec=frozenset({pds_reference(5)})))
    assert ko is not None and not ko.succes and ko.motif_echec == MOTIF_INJOIGNABLE and ko.index is None


def test_a_command_for_a_later_day_is_not_executed_early() -> None:
    compteur, res = executer(cmd(pds_reference(5), date_effet=date(2026, 11, 27)), None, JOUR, REGLES)
    assert compteur is None and res is not None and not res.succes and "27/11/2026" in (res.motif_echec or "")


def test_index_is_monotonic_per_meter_and_stops_while_cut() -> None:
    pds = pds_reference(7)
    compteur, premier = executer(cmd(pds), None, JOUR, REGLES)
    assert compteur is not None and premier is not None and premier.index
    coupe, cessation = executer(cmd(pds, OperationTechnique.CESSATION, reference_affaire="B"), compteur, date(2026, 11, 25), REGLES)
    assert coupe is not None and coupe.etat == COUPE and cessation is not None and cessation.index
    assert all(b.valeur == a.valeur + 5 * REGLES.kwh_par_jour for a, b in zip(premier.index, cessation.index, strict=True))
    # Cut: nothing is used any more, and a CF needs a supplied point.
    _, cf = executer(cmd(pds, reference_affaire="C", date_effet=date(2026, 12, 1)), coupe, date(2026, 12, 1), REGLES)
    assert cf is not None and not cf.succes and "coupé" in (cf.motif_echec or "")
    mise_en_service = cmd(pds, OperationTechnique.MISE_EN_SERVICE, reference_affaire="D", date_effet=date(2026, 12, 1))
    remis, mes = executer(mise_en_service, coupe, date(2026, 12, 1), REGLES)
    assert remis is not None and remis.etat == ACTIF and mes is not None and mes.index == cessation.index
    # An older day never makes the index go back.
    assert remis is not None
    _, tard = executer(cmd(pds, reference_affaire="E", date_effet=date(2026, 11, 1)), remis, date(2026, 11, 30), REGLES)
    assert tard is not None and tard.index == mes.index


def test_power_change_sets_the_breaker_and_needs_a_target() -> None:
    compteur, res = executer(cmd(pds_reference(8), OperationTechnique.MODIFICATION, puissance_kva=9), None, JOUR, REGLES)
    assert res is not None and res.succes and compteur is not None and compteur.puissance_kva == 9
    _, sans = executer(cmd(pds_reference(8), OperationTechnique.MODIFICATION), None, JOUR, REGLES)
    assert sans is not None and not sans.succes and "puissance" in (sans.motif_echec or "")


def test_failure_and_loss_rates_are_deterministic_by_seed() -> None:
    def issues(regles: Regles) -> list[str]:
        out = []
        for n in range(200):
            _, res = executer(cmd(pds_reference(9), reference_affaire=f"R{n}"), None, JOUR, regles)
            out.append("perdue" if res is None else "ok" if res.succes else "echec")
        return out

    regles = Regles(taux_echec=0.3, taux_perte=0.2, graine=7)
    tirage = issues(regles)
    assert tirage == issues(regles), "the same seed draws the same"
    assert 20 <= tirage.count("perdue") <= 60 and 30 <= tirage.count("echec") <= 80
    assert tirage != issues(Regles(taux_echec=0.3, taux_perte=0.2, graine=8))
    assert set(issues(REGLES)) == {"ok"}, "no failure nor loss unless configured"


def test_meter_state_round_trips_through_the_store_form() -> None:
    compteur, _ = executer(cmd(pds_reference(5), OperationTechnique.MODIFICATION, puissance_kva=6), None, JOUR, REGLES)
    assert compteur is not None and Compteur.from_doc(compteur.to_doc()) == compteur
    assert Compteur.from_doc({}) is None
