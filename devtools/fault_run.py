"""Fault-injection run: mixed demands while services are SIGKILLed, Kafka and the store restarted; then reconcile.

`python -m devtools.fault_run --demands 2000` (long) or `--demands 120` (short, as in CI). Needs the local stack
(`infra/up.sh`, then `source .data/env`). Prints a reconciliation table computed from what is observed in the
Kafka topics, the services' stores and the SMTP sink's folder, and exits non-zero when a pass criterion fails.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from contracts.base import WireModel
from contracts.catalogue import spec_for_model
from contracts.common import ChoixReleve, Contact, ContratConclu
from contracts.demandes import DemandeChangementFournisseurV1, DemandeDiverseV1, DemandeReclamationV1
from contracts.envelope import Envelope, new_envelope
from contracts.references import event_id, reference_affaire
from contracts.topics import DEMANDES, DEMANDES_RESULTATS, DLQ, FLUX_C15
from demo_data.generator import PdsGen, generate_many, pds_reference
from demo_data.reference import FOURNISSEURS
from devtools.processes import ROOT, Platform

SERVICES = ("referentiel", "contrats", "affaires", "planification", "notifications")


@dataclass
class Sent:
    """One demand sent, and what the platform must make of it."""

    envelope: Envelope
    kind: str
    expected: str  # "accepted", "refused" or "poison"
    raw: bytes | None = None


@dataclass
class Report:
    """The reconciliation: counts and the list of failed criteria."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        """Add a line to the table."""
        self.rows.append((label, str(value)))

    def check(self, ok: bool, failure: str) -> None:
        """Record a failed criterion."""
        if not ok:
            self.failures.append(failure)

    def render(self) -> str:
        """The table as text."""
        width = max(len(label) for label, _ in self.rows) + 2
        lines = [f"{label:<{width}}{value}" for label, value in self.rows]
        lines.append("RESULT: " + ("PASS" if not self.failures else "FAIL"))
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)


def plan_demands(
    count: int, seed_count: int, rng: random.Random, exclude: frozenset[str] = frozenset()
) -> list[tuple[str, str, WireModel, str, str]]:
    """(kind, expected, payload, key, supplier) for a mixed stream over many PDS (avoiding PDS changed by earlier runs)."""
    # Skip the low-numbered demo PDS: other test suites publish about them on the same topics.
    low = min(300, seed_count // 10)
    pool = [p for p in generate_many(seed_count) if p.reference not in exclude and p.index > low]
    amm = [p for p in pool if p.segment == "C5" and p.etat == "en_service" and p.compteur["teleoperable"] and p.titulaire]
    held = [p for p in pool if p.etat == "en_service" and p.titulaire]
    rng.shuffle(amm)
    used_cf: set[str] = set()
    plan: list[tuple[str, str, WireModel, str, str]] = []
    today = date.today()
    for n in range(count):
        roll = rng.random()
        if roll < 0.30 and amm:
            p = amm.pop()
            used_cf.add(p.reference)
            supplier = next(f.code for f in FOURNISSEURS if f.code != p.titulaire)
            payload: WireModel = DemandeChangementFournisseurV1(
                pds=p.reference,
                date_effet_souhaitee=today + timedelta(days=7),
                choix_releve=ChoixReleve.ESTIMATION,
                contrat_conclu=ContratConclu(reference=f"CTR-{n}", date_signature=today),
                telephones=("0601020304",),
            )
            plan.append(("changement_fournisseur", "accepted", payload, p.reference, supplier))
            continue
        p = rng.choice([q for q in held[-max(50, count // 3) :] if q.reference not in used_cf] or held)
        if roll < 0.60:
            payload = DemandeDiverseV1(
                pds=p.reference, sous_type="information", observations=f"demande {n}", date_souhaitee=today + timedelta(days=5)
            )
            plan.append(("demande_diverse", "accepted", payload, p.reference, p.titulaire or ""))
        elif roll < 0.75:
            payload = DemandeReclamationV1(
                pds=p.reference,
                sous_type="qualite_fourniture",
                nature="coupure",
                demandeur=Contact(nom="DUPONT", prenom="Anne", telephone="0601020304"),
            )
            plan.append(("reclamation", "accepted", payload, p.reference, p.titulaire or ""))
        elif roll < 0.90:
            other = next(f.code for f in FOURNISSEURS if f.code != p.titulaire)
            payload = DemandeDiverseV1(
                pds=p.reference, sous_type="information", observations="non titulaire", date_souhaitee=today + timedelta(days=5)
            )
            plan.append(("niveau_insuffisant", "refused", payload, p.reference, other))
        else:
            ref = pds_reference(900_000_000 + n)
            payload = DemandeDiverseV1(pds=ref, sous_type="information", observations="pds inconnu", date_souhaitee=today + timedelta(days=5))
            plan.append(("pds_inconnu", "refused", payload, ref, FOURNISSEURS[0].code))
    return plan


def poison_messages(held: PdsGen) -> list[Sent]:
    """Malformed JSON, an unknown type and a schema-invalid payload: each must reach the dead-letter topic."""
    out = []
    raw = f"{{pas du json {uuid.uuid4()}".encode()
    fake = new_envelope(
        DemandeDiverseV1(pds=held.reference, sous_type="x", observations="x", date_souhaitee=date.today()),
        key=held.reference,
        fournisseur=held.titulaire,
    )
    out.append(Sent(fake, "poison_json", "poison", raw))
    unknown = fake.model_copy(update={"message_id": uuid.uuid4(), "type": "DemandeInexistante"})
    out.append(Sent(unknown, "poison_type", "poison", unknown.model_dump_json().encode()))
    invalid = fake.model_copy(update={"message_id": uuid.uuid4(), "payload": {"pds": held.reference}})
    out.append(Sent(invalid, "poison_schema", "poison", invalid.model_dump_json().encode()))
    return out


async def publish(producer: Any, topic: str, value: bytes, key: bytes, deadline_s: float = 120) -> None:
    """Publish, retrying through a broker restart (the same bytes, so the same message id); fail after a deadline."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            await asyncio.wait_for(producer.send_all([(topic, value, key, {})]), 30)
            return
        except Exception as exc:
            if time.monotonic() > give_up:
                raise RuntimeError(f"could not publish to {topic} for {deadline_s}s") from exc
            progress(f"publish retry: {exc!r}")
            await asyncio.sleep(1)


def progress(text: str) -> None:
    """One progress line on stdout (the run is long)."""
    print(f"[fault {time.strftime('%H:%M:%S')}] {text}", flush=True)


async def chaos(platform: Platform, duration: float, kills_per_service: int, rng: random.Random, log: list[str]) -> None:
    """SIGKILL each service `kills_per_service` times at random moments; restart Kafka once and the store once."""
    events: list[tuple[float, str]] = []
    for name in SERVICES:
        events += [(rng.uniform(0.05, 0.9) * duration, name) for _ in range(kills_per_service)]
    events.append((rng.uniform(0.2, 0.4) * duration, "kafka"))
    events.append((rng.uniform(0.55, 0.75) * duration, "ferretdb"))
    events.sort()
    start = time.monotonic()
    env = dict(os.environ)
    for at, what in events:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
        if what in ("kafka", "ferretdb"):
            log.append(f"{time.monotonic() - start:6.1f}s restart {what}")
            progress(log[-1])
            await asyncio.to_thread(
                subprocess.run,
                [str(ROOT / "infra" / f"{what}.sh"), "restart"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            continue
        sp = platform[what]
        log.append(f"{time.monotonic() - start:6.1f}s kill -9 {what}")
        progress(log[-1])
        sp.kill9()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        sp.start()
    for name in SERVICES:
        await asyncio.to_thread(platform[name].wait_healthy, 180)
    progress("chaos over, every service healthy")


async def read_all(topic: str) -> list[tuple[dict[str, Any] | None, dict[str, str], bytes]]:
    """Every record of a topic (tests.support.read_topic without importing the tests)."""
    from tests.support import read_topic

    return await read_topic(topic)


def mail_ids(folder: Path) -> Counter[str]:
    """How many files the SMTP sink holds per Message-ID."""
    ids: Counter[str] = Counter()
    for path in folder.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        ids[str(msg["Message-ID"]).strip()] += 1
    return ids


def expected_mail(outcome: dict[str, Any]) -> str:
    """The Message-ID notifications gives the e-mail of an outcome (derived from the outcome event's id)."""
    template = "demande_acceptee" if outcome["type"] == "DemandeAcceptee" else "demande_refusee"
    return f"<{event_id(outcome['message_id'], 'mail', template)}@notifications.grd.local>"


async def reconcile(platform: Platform, sent: list[Sent], mail_folder: Path, timeout: float) -> Report:
    """Wait until every demand has an outcome (or the timeout), then compare expectations with observations."""
    report = Report()
    demands = [s for s in sent if s.expected != "poison"]
    wanted = {str(s.envelope.message_id) for s in demands}
    deadline = time.monotonic() + timeout
    outcomes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    while time.monotonic() < deadline:
        outcomes.clear()
        for d, _h, _v in await read_all(DEMANDES_RESULTATS.name):
            if d and d["payload"].get("demande_message_id") in wanted:
                outcomes[d["payload"]["demande_message_id"]].append(d)
        cf_refs = {reference_affaire(s.envelope.message_id) for s in demands if s.kind == "changement_fournisseur"}
        flux = [d for d, _h, _v in await read_all(FLUX_C15.name) if d and d["payload"]["reference_affaire"] in cf_refs]
        ids_now = mail_ids(mail_folder)
        mails_found = sum(1 for ds in outcomes.values() if expected_mail(ds[0]) in ids_now)
        if len(outcomes) == len(wanted) and len({d["message_id"] for d in flux}) >= 2 * len(cf_refs) and mails_found == len(outcomes):
            break
        progress(
            f"waiting: {len(outcomes)}/{len(wanted)} outcomes, {len({d['message_id'] for d in flux})}/{2 * len(cf_refs)} C15, "
            f"{mails_found}/{len(outcomes)} outcome e-mails"
        )
        # Each poll re-reads whole topics: poll rarely while far from done, so the reconciliation does not compete
        # with the platform for the same two cores.
        await asyncio.sleep(2 if len(outcomes) >= 0.95 * len(wanted) else 10)
    await asyncio.sleep(5)  # let the last e-mails and republished copies land
    outcomes.clear()
    results_raw = [d for d, _h, _v in await read_all(DEMANDES_RESULTATS.name) if d]
    for d in results_raw:
        if d["payload"].get("demande_message_id") in wanted:
            outcomes[d["payload"]["demande_message_id"]].append(d)

    by_kind = Counter(s.kind for s in sent)
    report.add("demands sent", f"{len(demands)} ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()) if not k.startswith('poison'))})")
    report.add("poison messages sent", sum(v for k, v in by_kind.items() if k.startswith("poison")))
    distinct_outcomes = {mid: {d["message_id"] for d in ds} for mid, ds in outcomes.items()}
    missing = [s for s in demands if str(s.envelope.message_id) not in outcomes]
    doubled = [mid for mid, ids in distinct_outcomes.items() if len(ids) > 1]
    copies = sum(len(ds) for ds in outcomes.values()) - sum(len(ids) for ids in distinct_outcomes.values())
    accepted = sum(1 for ds in outcomes.values() if ds[0]["type"] == "DemandeAcceptee")
    report.add("outcomes", f"{len(outcomes)} (accepted {accepted}, refused {len(outcomes) - accepted})")
    report.add("outcomes missing / doubled", f"{len(missing)} / {len(doubled)}  (republished copies, same id: {copies})")
    report.check(not missing, f"{len(missing)} demand(s) without outcome, e.g. {[s.kind for s in missing[:5]]}")
    report.check(not doubled, f"{len(doubled)} demand(s) with more than one outcome")
    wrong = [
        s
        for s in demands
        if str(s.envelope.message_id) in outcomes
        and (outcomes[str(s.envelope.message_id)][0]["type"] == "DemandeAcceptee") != (s.expected == "accepted")
    ]
    report.add("unexpected outcome kind", len(wrong))
    examples = [(s.kind, outcomes[str(s.envelope.message_id)][0]["payload"].get("code")) for s in wrong[:5]]
    report.check(not wrong, f"{len(wrong)} outcome(s) of the wrong kind, e.g. {examples}")

    refs = {reference_affaire(s.envelope.message_id) for s in demands if s.expected == "accepted"}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = client[platform["affaires"].env["AFFAIRES_DATABASE"]]
    stored = []
    # The affaires service may spread its aggregates over partitions (affaires_000, ...): look in each.
    for name in await db.list_collection_names():
        if name == "affaires" or name.startswith("affaires_"):
            stored += [doc["_id"] async for doc in db[name].find({}, {"_id": 1}) if doc["_id"] in refs]
    await client.close()
    report.add("affaires expected / stored", f"{len(refs)} / {len(stored)}")
    report.check(len(stored) == len(refs), f"{len(refs) - len(stored)} affaire(s) missing from the store")

    cf = [s for s in demands if s.kind == "changement_fournisseur"]
    cf_refs = {reference_affaire(s.envelope.message_id) for s in cf}
    flux_all = [d for d, _h, _v in await read_all(FLUX_C15.name) if d and d["payload"]["reference_affaire"] in cf_refs]
    per_ref: dict[str, Counter[str]] = defaultdict(Counter)
    for d in {d["message_id"]: d for d in flux_all}.values():
        per_ref[d["payload"]["reference_affaire"]][d["payload"]["evenement"]] += 1
    flux_bad = [r for r in cf_refs if per_ref.get(r) != Counter({"CFNE": 1, "CFNS": 1})]
    report.add("C15 flux events (distinct / copies)", f"{sum(sum(c.values()) for c in per_ref.values())} / {len(flux_all)}")
    report.add("CF with exactly CFNE+CFNS", f"{len(cf_refs) - len(flux_bad)} / {len(cf_refs)}")
    report.check(not flux_bad, f"{len(flux_bad)} CF(s) whose C15 flux is missing or doubled")

    ids = mail_ids(mail_folder)
    expected_mails = [expected_mail(ds[0]) for ds in outcomes.values()]
    missing_mails = [m for m in expected_mails if m not in ids]
    resent = sum(ids[m] - 1 for m in expected_mails if ids.get(m, 0) > 1)
    report.add("outcome e-mails expected / found (by Message-ID)", f"{len(expected_mails)} / {len(expected_mails) - len(missing_mails)}")
    report.add("e-mail copies resent under the same Message-ID", resent)
    report.check(not missing_mails, f"{len(missing_mails)} outcome e-mail(s) missing, e.g. {missing_mails[:2]}")

    poison_raw = {s.raw for s in sent if s.expected == "poison"}
    poison_ids = {str(s.envelope.message_id) for s in sent if s.expected == "poison"}
    dead = await read_all(DLQ.name)
    ours = [v for d, _h, v in dead if v in poison_raw or (d and d.get("message_id") in poison_ids)]
    unexpected = [
        (h.get("x-consumer"), h.get("x-error", "")[:80])
        for d, h, v in dead
        if not (v in poison_raw or (d and d.get("message_id") in poison_ids)) and d is not None and d.get("correlation_id") in wanted
    ]
    report.add("dead letters (injected poison / unexpected)", f"{len(ours)} / {len(unexpected)}")
    report.check(len({v for v in ours}) >= len(poison_raw), "an injected poison message did not reach the dead-letter topic")
    report.check(not unexpected, f"unexpected dead letters: {unexpected[:3]}")

    order_bad = 0
    seq: dict[str, list[str]] = defaultdict(list)
    for s in demands:
        if s.kind == "demande_diverse":
            seq[s.envelope.key].append(str(s.envelope.message_id))
    position: dict[str, int] = {}
    for i, d in enumerate(results_raw):
        position.setdefault(d["payload"]["demande_message_id"], i)
    for mids in seq.values():
        observed = sorted(mids, key=lambda m: position.get(m, 1 << 60))
        if observed != mids:
            order_bad += 1
    report.add("PDS with demandes diverses out of order", order_bad)
    report.check(order_bad == 0, f"{order_bad} PDS whose outcomes are not in the order of the demands")
    return report


async def run(
    platform: Platform,
    demands: int,
    seed_count: int,
    kills_per_service: int,
    seed: int,
    timeout: float,
    exclude: frozenset[str] = frozenset(),
) -> Report:
    """Publish the mixed stream under chaos, then reconcile."""
    from platform_kit.producer import Producer

    rng = random.Random(seed)
    plan = plan_demands(demands, seed_count, rng, exclude)
    held = next(p for p in generate_many(seed_count) if p.titulaire)
    # The suppliers' side publishes with the same self-healing producer as the services (it survives the restart).
    producer = Producer(os.environ["KAFKA_BOOTSTRAP_SERVERS"], "fault-run")
    await producer.start()
    sent: list[Sent] = []
    log: list[str] = []
    duration = max(20.0, demands / 25)
    chaos_task = asyncio.create_task(chaos(platform, duration, kills_per_service, rng, log))
    poison = poison_messages(held)
    t0 = time.monotonic()
    interval = duration * 0.8 / max(1, len(plan))
    for i, (kind, expected, payload, key, supplier) in enumerate(plan):
        env = new_envelope(payload, key=key, fournisseur=supplier)
        sent.append(Sent(env, kind, expected))
        await publish(producer, spec_for_model(type(payload)).topic_for(payload).name, env.model_dump_json().encode(), key.encode())
        if i in (len(plan) // 4, len(plan) // 2, 3 * len(plan) // 4):
            p = poison.pop()
            sent.append(p)
            await publish(producer, DEMANDES.name, p.raw or b"", p.envelope.key.encode())
        await asyncio.sleep(max(0.0, t0 + interval * (i + 1) - time.monotonic()))
    for p in poison:
        sent.append(p)
        await publish(producer, DEMANDES.name, p.raw or b"", p.envelope.key.encode())
    progress(f"{len(sent)} messages published")
    await producer.stop()
    await chaos_task
    report = await reconcile(platform, sent, Path(os.environ["SMTP_SINK_DIR"]), timeout)
    report.rows.insert(0, ("faults injected", "; ".join(line.strip() for line in log)))
    return report


def main() -> None:
    """Command-line entry point: start the platform, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demands", type=int, default=2000)
    parser.add_argument("--seed-count", type=int, default=20000, help="demo PDS loaded")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per service")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    run_id = f"fault{uuid.uuid4().hex[:6]}"
    data = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data"))
    platform = Platform(run_id, data / "logs" / run_id, port_offset=int(os.environ.get("GRD_TEST_PORT_OFFSET", "0")))
    print(f"[fault] seeding {args.seed_count} PDS and starting the services ({run_id})...", flush=True)
    platform.seed(args.seed_count)
    platform.start()
    try:
        report = asyncio.run(run(platform, args.demands, args.seed_count, args.kills, args.seed, args.timeout))
    finally:
        platform.stop()
    print(report.render())
    sys.exit(0 if not report.failures else 1)


if __name__ == "__main__":
    main()
