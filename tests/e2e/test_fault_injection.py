"""Short fault-injection run (the long one: `python -m devtools.fault_run --demands 2000`): two instances of every
service, SIGKILLs of instances, of Kafka and of the store; demands of every process type; one outcome per demand and
final states that agree across services."""

import random
from collections.abc import Callable, Iterator

import pytest

from devtools.fault_run import run
from devtools.processes import SCALABLE, Platform, ServiceProcess
from tests.e2e import test_walking_skeleton
from tests.e2e.conftest import SEED_COUNT

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


@pytest.fixture
def second_instances(platform: Platform) -> Iterator[list[ServiceProcess]]:
    """A second instance of every service beside the session's first (same database, same consumer groups)."""
    extra = [platform.add_instance(name) for name in SCALABLE]
    for sp in extra:
        sp.start()
    for sp in extra:
        sp.wait_healthy()  # GRD_HEALTH_TIMEOUT_S
    yield extra
    for sp in extra:
        sp.stop()
        del platform.processes[sp.label]


async def test_demands_of_every_kind_survive_sigkills_of_instances_broker_and_store(
    platform: Platform, second_instances: list[ServiceProcess]
) -> None:
    report = await run(
        platform,
        demands=120,
        seed_count=SEED_COUNT,
        kills_per_service=2,
        seed=11,
        timeout=300,
        exclude=test_walking_skeleton._used,
    )
    print(report.render())
    assert len(platform.instances_of("contrats")) == 2
    assert report.failures == [], report.render()


def test_the_reconciliation_fails_on_each_kind_of_mismatch() -> None:
    """The criteria can fail: one consistent observation passes, then each planted mismatch is reported."""
    import copy
    import uuid
    from collections import defaultdict
    from datetime import date

    from contracts.envelope import new_envelope
    from contracts.references import reference_affaire
    from devtools import fault_run as fr

    rng = random.Random(5)
    plan = [p for p in fr.plan_demands(60, SEED_COUNT, rng, set(), date(2026, 12, 2)) if p.kind in ("changement_fournisseur", "demande_diverse")]
    sent = [fr.Sent(new_envelope(p.payload, key=p.key, fournisseur=p.supplier), p.kind, p.expected, code=p.code, pds=p.pds) for p in plan]
    cf = next(s for s in sent if s.kind == "changement_fournisseur")
    o = fr.Observed()
    o.outcomes, o.results_raw, o.flux, o.affaires, o.affaire_events, o.mails = defaultdict(list), [], [], {}, {}, {}
    o.intervention_events, o.interventions, o.dead, o.pds_ref, o.pds_contrats, o.places, o.capacities = {}, {}, [], {}, {}, [], {}
    for s in sent:
        ref = reference_affaire(s.envelope.message_id)
        outcome = {
            "type": "DemandeAcceptee",
            "message_id": str(uuid.uuid4()),
            "payload": {"demande_message_id": str(s.envelope.message_id), "reference_affaire": ref},
        }
        o.outcomes[str(s.envelope.message_id)].append(outcome)
        o.results_raw.append(outcome)
        o.mails[fr.expected_mail(outcome)] = [1.0]
        statut = ("terminee", "terminee") if s.kind == "changement_fournisseur" else ("en_cours", "creee")
        o.affaires[ref] = {"statut": statut[0], "etat": statut[1]}
        o.affaire_events[ref] = {"statut": statut[0], "etat": statut[1]}
        if s.kind == "changement_fournisseur" and s.pds is not None:
            new, old = s.envelope.fournisseur, s.pds.titulaire
            for ev, who in (("CFNE", new), ("CFNS", old)):
                o.flux.append(
                    {
                        "message_id": str(uuid.uuid4()),
                        "payload": {"reference_affaire": ref, "evenement": ev, "fournisseur": who, "pds": s.pds.reference},
                    }
                )
            o.pds_ref[s.pds.reference] = {"titulaires": [{"fournisseur": old, "fin": "x"}, {"fournisseur": new, "fin": None}]}
            o.pds_contrats[s.pds.reference] = {"contrats": [{"titulaire": old, "etat": "cesse"}, {"titulaire": new, "etat": "en_service"}]}
    assert fr.reconcile(o, sent, [], 3).failures == []

    def fails_with(change: Callable[[fr.Observed], None], words: str) -> None:
        bad = copy.deepcopy(o)
        change(bad)
        failures = fr.reconcile(bad, sent, [], 3).failures
        assert any(words in f for f in failures), failures

    cf_ref, cf_pds = reference_affaire(cf.envelope.message_id), cf.envelope.key
    fails_with(
        lambda b: b.outcomes[str(cf.envelope.message_id)].append({**b.outcomes[str(cf.envelope.message_id)][0], "message_id": "autre"}),
        "more than one outcome",
    )
    fails_with(lambda b: b.affaire_events.__setitem__(cf_ref, {"statut": "en_cours", "etat": "creee"}), "not in the state last published")
    fails_with(
        lambda b: b.pds_contrats[cf_pds]["contrats"].reverse() or b.pds_contrats[cf_pds]["contrats"][0].update(etat="cesse"), "holders disagree"
    )
    fails_with(lambda b: b.flux.append({**b.flux[0], "message_id": "double"}), "C15 flux is missing or doubled")
    fails_with(lambda b: b.mails.__setitem__(next(iter(b.mails)), [1.0, 2.0]), "sent again with no fault")
    fails_with(lambda b: b.places.extend({"_id": f"S#{i}", "creneau_id": "S", "titulaire": f"A{i}"} for i in range(4)), "above capacity")
