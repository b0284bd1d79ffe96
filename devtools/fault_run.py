"""Fault-injection run: demands of every process type to two instances of every service while instances, the store and
Kafka are SIGKILLed; then reconcile the outcomes, the flux, the e-mails and the final states across services.

`python -m devtools.fault_run --demands 2000` (long) or `--demands 120` (short, as in CI). Needs the local stack
(`infra/up.sh`, then `source .data/env`). Prints a reconciliation table computed from what is observed in the
Kafka topics (aiokafka), the services' stores (PyMongo) and the SMTP sink's folder, and exits non-zero when a pass
criterion fails. What is checked and why: docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from contracts.base import WireModel
from contracts.catalogue import spec_for_model
from contracts.common import ChoixReleve, Contact, ContratConclu, ModaliteIntervention
from contracts.demandes import (
    DemandeAnnulationV1,
    DemandeCessationV1,
    DemandeChangementFournisseurV1,
    DemandeDiverseV1,
    DemandeInterventionTechniqueV1,
    DemandeMiseEnServiceV1,
    DemandeModificationContratV1,
    DemandeModificationREV1,
    DemandeReclamationV1,
    DeplanificationV1,
    ReservationCreneauV1,
)
from contracts.envelope import Envelope, new_envelope
from contracts.references import event_id, reference_affaire
from contracts.topics import AFFAIRES_EVENEMENTS, DEMANDES, DEMANDES_RESULTATS, DLQ, FLUX_C15, INTERVENTIONS_EVENEMENTS
from demo_data.generator import PdsGen, generate_many, pds_reference
from devtools.processes import ROOT, SCALABLE, Platform
from platform_kit.clock import Clock, aujourdhui_reel
from platform_kit.kafka_client import kafka_options
from platform_kit.reference import reference
from platform_kit.store import partition_name, partition_of

SERVICES = SCALABLE
DEMANDEUR = Contact(nom="BERNARD", prenom="Anne", telephone="0145000000")
#: Slot windows of « sur créneau horaire » (planification: 2-hour windows of the half-days).
FENETRES = ("H0800", "H1000", "H1330", "H1530")
#: Contract demands: the C15 flux their completion publishes, by kind.
FLUX_ATTENDU = {
    "changement_fournisseur": Counter({"CFNE": 1, "CFNS": 1}),
    "mise_en_service": Counter({"MES": 1}),
    "cessation": Counter({"RES": 1}),
}
CONTRACTUELLES = ("changement_fournisseur", "mise_en_service", "cessation", "modification_re", "modification_contrat")


@dataclass
class Sent:
    """One demand sent, and what the platform must make of it."""

    envelope: Envelope
    kind: str
    expected: str  # "accepted", "refused", "either" (contested slot) or "poison"
    raw: bytes | None = None
    code: str | None = None  # the refusal code expected
    pds: PdsGen | None = None


@dataclass
class Planned:
    """A demand to send: what, to whom, and what is expected of it."""

    kind: str
    expected: str
    payload: WireModel
    key: str
    supplier: str
    code: str | None = None
    pds: PdsGen | None = None


@dataclass
class Report:
    """The reconciliation: counts and the list of failed criteria."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, label: str, value: object, ok: bool | None = None) -> None:
        """Add a line to the table (ok: None for information, else the criterion's verdict)."""
        self.rows.append((label, str(value), "" if ok is None else ("ok" if ok else "FAIL")))

    def check(self, ok: bool, failure: str) -> None:
        """Record a failed criterion."""
        if not ok:
            self.failures.append(failure)

    def render(self) -> str:
        """The table as text (rich), then the verdict and the failed criteria."""
        table = Table(title="Fault run: reconciliation", show_lines=False)
        table.add_column("what")
        table.add_column("observed", overflow="fold")
        table.add_column("check")
        for label, value, verdict in self.rows:
            table.add_row(label, value, verdict)
        console = Console(width=160, record=True, force_terminal=False, color_system=None, file=open(os.devnull, "w"))
        console.print(table)
        lines = [console.export_text().rstrip()]
        lines.append("RESULT: " + ("PASS" if not self.failures else "FAIL"))
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)


def _cf(p: PdsGen, jour: date, n: int) -> DemandeChangementFournisseurV1:
    return DemandeChangementFournisseurV1(
        pds=p.reference,
        date_effet_souhaitee=jour,
        choix_releve=ChoixReleve.ESTIMATION,
        contrat_conclu=ContratConclu(reference=f"CTR-{n}", date_signature=jour - timedelta(days=30)),
        telephones=("0601020304",),
        demandeur=DEMANDEUR,
        modalite_intervention=ModaliteIntervention.STANDARD,
        configuration_demandee="BASE",
    )


def _autre(p: PdsGen) -> str:
    return next(f.code for f in reference().fournisseurs if f.code != p.titulaire)


def _amm(p: PdsGen) -> bool:
    return bool(p.segment == "C5" and p.compteur["amm"] and p.compteur["teleoperable"])


def plan_demands(
    count: int, seed_count: int, rng: random.Random, exclude: frozenset[str] | set[str] = frozenset(), today: date | None = None
) -> list[Planned]:
    """A mixed stream of every process type over many PDS: each PDS carries at most one contract demand (or one
    intervention chain), so that its final state is predictable; demandes diverses and réclamations use other PDS."""
    today = today or Clock().today()
    # Skip the low-numbered demo PDS (integration tests publish about them on the same topics) and the top of the range
    # (the other e2e tests pick from there).
    low, high = min(300, seed_count // 10), seed_count - min(400, seed_count // 6)
    pool = [p for p in generate_many(seed_count) if p.reference not in exclude and low < p.index <= high]
    rng.shuffle(pool)
    en_service = [p for p in pool if p.etat == "en_service" and p.titulaire and p.contrat and not p.coupe_pour_non_paiement]
    amm_all = [p for p in en_service if _amm(p)]
    amm = amm_all[: len(amm_all) // 2]
    contract_pool = {p.reference for p in amm}
    resilie_amm = [p for p in pool if p.etat == "resilie" and _amm(p)]
    c5 = [p for p in en_service if p.segment == "C5" and p.reference not in contract_pool]
    stables = [p for p in en_service if p.segment != "C5" or not p.compteur["amm"]][: max(40, count // 4)]
    used: set[str] = set()

    def take(candidates: list[PdsGen]) -> PdsGen | None:
        while candidates:
            p = candidates.pop()
            if p.reference not in used:
                used.add(p.reference)
                return p
        return None

    weights = [
        ("changement_fournisseur", 14),
        ("mise_en_service", 5),
        ("cessation", 5),
        ("modification_re", 5),
        ("modification_contrat", 5),
        ("intervention_technique", 12),
        ("intervention_technique_pno", 3),
        ("annulation", 4),
        ("demande_diverse", 15),
        ("reclamation", 10),
        ("niveau_insuffisant", 5),
        ("pds_inconnu", 3),
        ("date_effet_passee", 3),
        ("annulation_inconnue", 3),
        ("reservation_inconnue", 3),
    ]
    kinds, w = zip(*weights, strict=True)
    plan: list[Planned] = []
    for n in range(count):
        kind = rng.choices(kinds, w)[0]
        p: PdsGen | None
        if kind in ("changement_fournisseur", "date_effet_passee"):
            p = take(amm)
            if p is None:
                kind = "demande_diverse"
            else:
                passee = kind == "date_effet_passee"
                jour = today - timedelta(days=2) if passee else today
                code = "DATE_EFFET_PASSEE" if passee else None
                plan.append(Planned(kind, "refused" if passee else "accepted", _cf(p, jour, n), p.reference, _autre(p), code, p))
                continue
        if kind == "mise_en_service":
            p = take(resilie_amm)
            if p is None:
                kind = "demande_diverse"
            else:
                fournisseurs = reference().fournisseurs
                four = fournisseurs[n % len(fournisseurs)]
                mes = DemandeMiseEnServiceV1(
                    pds=p.reference,
                    date_effet_souhaitee=today,
                    choix_releve=ChoixReleve.ESTIMATION,
                    contrat_conclu=ContratConclu(reference=f"MES-{n}", date_signature=today - timedelta(days=10)),
                    occupant=Contact(civilite="Mme", nom="MARTIN", prenom="Lise", telephone="0622334455"),
                    service="BASE",
                    puissance_souscrite_kva=6.0,
                    re_code=four.re_c2,
                    demandeur=DEMANDEUR,
                    modalite_intervention=ModaliteIntervention.STANDARD,
                )
                plan.append(Planned(kind, "accepted", mes, p.reference, four.code, None, p))
                continue
        if kind in ("cessation", "modification_re", "modification_contrat"):
            p = take(amm)
            if p is None:
                kind = "demande_diverse"
            else:
                assert p.titulaire and p.contrat
                payload: WireModel
                if kind == "cessation":
                    payload = DemandeCessationV1(
                        pds=p.reference,
                        date_effet_souhaitee=today,
                        choix_releve=ChoixReleve.ESTIMATION,
                        motif="demenagement",
                        demandeur=DEMANDEUR,
                        modalite_intervention=ModaliteIntervention.STANDARD,
                    )
                elif kind == "modification_re":
                    payload = DemandeModificationREV1(
                        pds=p.reference, re_code="RE_NORDEQUILIBRE_C2" if p.contrat.get("re_code") != "RE_NORDEQUILIBRE_C2" else "RE_SUDBALANCE_C2"
                    )
                else:
                    usage = "professionnel" if p.contrat.get("usage") != "professionnel" else "residentiel"
                    puissance = 3.0 if p.contrat.get("puissance_souscrite_kva") != 3.0 else 6.0
                    payload = DemandeModificationContratV1(
                        pds=p.reference,
                        date_effet_souhaitee=today,
                        choix_releve=ChoixReleve.ESTIMATION,
                        demandeur=DEMANDEUR,
                        usage=usage if n % 2 else None,
                        puissance_souscrite_kva=None if n % 2 else puissance,
                    )
                plan.append(Planned(kind, "accepted", payload, p.reference, p.titulaire, None, p))
                continue
        if kind in ("intervention_technique", "intervention_technique_pno", "annulation"):
            p = take(c5)
            if p is None:
                kind = "demande_diverse"
            else:
                assert p.titulaire
                pno = kind == "intervention_technique_pno"
                it = DemandeInterventionTechniqueV1(
                    pds=p.reference,
                    sous_type="releve_speciale" if pno else "verification_compteur",
                    date_souhaitee=today + timedelta(days=3),
                    demandeur=DEMANDEUR,
                    libelle=f"intervention {n}",
                )
                plan.append(Planned("intervention_technique", "accepted", it, p.reference, p.titulaire, None, p))
                if kind == "annulation":
                    # Cancels the affaire of the intervention above: same PDS, so same partition, handled after it.
                    ref = f"@{len(plan) - 1}"  # resolved to the affaire reference once the first one is sent
                    annul = DemandeAnnulationV1(pds=p.reference, reference_affaire=ref, motif="Le client renonce")
                    plan.append(Planned("annulation", "accepted", annul, p.reference, p.titulaire, None, p))
                continue
        p = rng.choice(stables)
        assert p.titulaire
        later = today + timedelta(days=5)
        if kind == "reclamation":
            rec = DemandeReclamationV1(pds=p.reference, sous_type="qualite_fourniture", nature="ecrite", demandeur=DEMANDEUR)
            plan.append(Planned(kind, "accepted", rec, p.reference, p.titulaire, None, p))
        elif kind == "niveau_insuffisant":
            div = DemandeDiverseV1(pds=p.reference, sous_type="information", observations="non titulaire", date_souhaitee=later)
            plan.append(Planned(kind, "refused", div, p.reference, _autre(p), "NIVEAU_ACCES_INSUFFISANT", p))
        elif kind == "pds_inconnu":
            ref = pds_reference(900_000_000 + n)
            div = DemandeDiverseV1(pds=ref, sous_type="information", observations="pds inconnu", date_souhaitee=later)
            plan.append(Planned(kind, "refused", div, ref, reference().fournisseurs[0].code, "PDS_INCONNU"))
        elif kind == "annulation_inconnue":
            annul = DemandeAnnulationV1(pds=p.reference, reference_affaire=f"AFF-INCONNUE-{n}")
            plan.append(Planned(kind, "refused", annul, p.reference, p.titulaire, "AFFAIRE_INCONNUE", p))
        elif kind == "reservation_inconnue":
            resa = ReservationCreneauV1(pds=p.reference, reference_affaire=f"AFF-INCONNUE-{n}", creneau_id=f"{p.zone}-20300102-H0800-CR")
            plan.append(Planned(kind, "refused", resa, p.reference, p.titulaire, "INTERVENTION_INCONNUE", p))
        else:
            div = DemandeDiverseV1(pds=p.reference, sous_type="information", observations=f"demande {n}", date_souhaitee=later)
            plan.append(Planned("demande_diverse", "accepted", div, p.reference, p.titulaire, None, p))
    return plan


def working_day(day: date) -> date:
    """The first working day (Monday to Friday) from `day`."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def plan_reservations(interventions: list[Sent], cancelled: set[str], rng: random.Random, today: date) -> list[Planned]:
    """Bookings for the interventions « sur créneau horaire » of the first phase: most on their own slot, a group of up
    to five on one slot of capacity three (the surplus is refused CRENEAU_COMPLET), one déplanification of an
    intervention never booked (refused INTERVENTION_NON_PLANIFIEE)."""
    candidates = [s for s in interventions if reference_affaire(s.envelope.message_id) not in cancelled and s.pds is not None]
    candidates = [s for s in candidates if s.envelope.payload.get("sous_type") != "releve_speciale"]
    rng.shuffle(candidates)
    plan: list[Planned] = []
    if not candidates:
        return plan
    never = candidates.pop()
    assert never.pds is not None and never.envelope.fournisseur
    depl = DeplanificationV1(pds=never.pds.reference, reference_affaire=reference_affaire(never.envelope.message_id))
    plan.append(
        Planned("deplanification_non_planifiee", "refused", depl, never.pds.reference, never.envelope.fournisseur, "INTERVENTION_NON_PLANIFIEE")
    )
    by_zone: dict[str, list[Sent]] = defaultdict(list)
    for s in candidates:
        assert s.pds is not None
        by_zone[s.pds.zone].append(s)
    contested_zone = max(by_zone, key=lambda z: len(by_zone[z]), default=None)
    first = working_day(today + timedelta(days=4))
    for zone, group in by_zone.items():
        for i, s in enumerate(group):
            assert s.pds is not None and s.envelope.fournisseur
            ref = reference_affaire(s.envelope.message_id)
            contested = zone == contested_zone and i < 5 and len(group) >= 4
            if contested:
                slot = f"{zone}-{first:%Y%m%d}-H0800-CR"
            else:
                # A slot of its own (capacity is tested on the contested one): the i-th window after `first`'s day.
                day = working_day(first + timedelta(days=1))
                for _ in range(i // len(FENETRES)):
                    day = working_day(day + timedelta(days=1))
                slot = f"{zone}-{day:%Y%m%d}-{FENETRES[i % len(FENETRES)]}-CR"
            resa = ReservationCreneauV1(pds=s.pds.reference, reference_affaire=ref, creneau_id=slot)
            kind = "reservation_disputee" if contested else "reservation"
            plan.append(Planned(kind, "either" if contested else "accepted", resa, s.pds.reference, s.envelope.fournisseur, None, s.pds))
    return plan


def poison_messages(held: PdsGen) -> list[Sent]:
    """Malformed JSON, an unknown type and a schema-invalid payload: each must reach the dead-letter topic."""
    out = []
    raw = f"{{pas du json {uuid.uuid4()}".encode()
    fake = new_envelope(
        DemandeDiverseV1(pds=held.reference, sous_type="x", observations="x", date_souhaitee=aujourdhui_reel()),
        key=held.reference,
        fournisseur=held.titulaire,
    )
    out.append(Sent(fake, "poison_json", "poison", raw))
    unknown = fake.model_copy(update={"message_id": uuid.uuid4(), "type": "DemandeInexistante"})
    out.append(Sent(unknown, "poison_type", "poison", unknown.model_dump_json().encode()))
    invalid = fake.model_copy(update={"message_id": uuid.uuid4(), "payload": {"pds": held.reference}})
    out.append(Sent(invalid, "poison_schema", "poison", invalid.model_dump_json().encode()))
    return out


async def publish(producer: Any, topic: str, value: bytes, key: bytes, deadline_s: float = 180) -> None:
    """Publish, retrying through a broker outage (the same bytes, so the same message id); fail after a deadline."""
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


@dataclass
class Fault:
    """One injected fault: what, and when (wall clock, to explain e-mails sent twice)."""

    at: float
    what: str
    started: float = 0.0


async def _infra(script: str, *command: str) -> None:
    """infra/<script>.sh <command> in the run's environment (SIGKILL or start of the broker or the store)."""
    await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / "infra" / f"{script}.sh"), *command],
        env=dict(os.environ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def chaos(
    platform: Platform,
    duration: float,
    kills_per_service: int,
    rng: random.Random,
    faults: list[Fault],
    cluster: bool = False,
    infra: bool = True,
) -> None:
    """SIGKILL service instances `kills_per_service` times per service at random moments (restarted after a random
    pause); with `infra`, SIGKILL Kafka once (cluster: each of the three nodes in turn, one at a time) and the store once."""
    events: list[tuple[float, str]] = []
    for name in SERVICES:
        events += [(rng.uniform(0.05, 0.9) * duration, name) for _ in range(kills_per_service)]
    if infra and cluster:
        events += [(share * duration, f"node{n}") for n, share in ((1, 0.15), (2, 0.45), (3, 0.8))]
    elif infra:
        events.append((rng.uniform(0.2, 0.4) * duration, "kafka"))
    if infra:
        events.append((rng.uniform(0.55, 0.75) * duration, "ferretdb"))
    events.sort()
    start = time.monotonic()
    pending: list[asyncio.Task[None]] = []

    async def crash_service(name: str) -> None:
        sp = rng.choice([sp for sp in platform.instances_of(name) if sp.proc is not None and sp.proc.poll() is None] or platform.instances_of(name))
        faults.append(Fault(time.time(), f"kill -9 {sp.label}"))
        progress(f"{time.monotonic() - start:6.1f}s kill -9 {sp.label}")
        sp.kill9()
        await asyncio.sleep(rng.uniform(0.5, 4.0))
        sp.start()
        faults[-1].started = time.time()

    async def crash_infra(what: str) -> None:
        faults.append(Fault(time.time(), f"kill -9 {what}"))
        progress(f"{time.monotonic() - start:6.1f}s kill -9 {what}")
        await _infra(what, "kill")
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        await _infra(what, "start")
        faults[-1].started = time.time()
        progress(f"{time.monotonic() - start:6.1f}s {what} started again")

    async def crash_node(n: str) -> None:
        # One broker of the 3-node cluster: the producers (acks=all, min.insync.replicas 2) go on with the two others.
        faults.append(Fault(time.time(), f"kill -9 kafka node {n}"))
        progress(f"{time.monotonic() - start:6.1f}s kill -9 kafka node {n}")
        await _infra("kafka_cluster", "kill", n)
        await asyncio.sleep(rng.uniform(3.0, 8.0))
        await _infra("kafka_cluster", "start-one", n)
        faults[-1].started = time.time()

    for at, what in events:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
        if what.startswith("node"):
            pending.append(asyncio.create_task(crash_node(what[4:])))
        elif what in ("kafka", "ferretdb"):
            pending.append(asyncio.create_task(crash_infra(what)))
        else:
            pending.append(asyncio.create_task(crash_service(what)))
    await asyncio.gather(*pending)
    # Not fatal: on a loaded machine /health (2 s pings) may lag; the reconciliation says what was not done.
    slow = []
    for name in SERVICES:
        for sp in platform.instances_of(name):
            try:
                await asyncio.to_thread(sp.wait_healthy, 300)
            except RuntimeError as exc:
                slow.append(sp.label)
                progress(f"{exc}")
    progress(f"chaos over; instances not healthy: {slow or 'none'}")


@dataclass(frozen=True)
class Rec:
    """One record of a topic, with its place in it."""

    partition: int
    offset: int
    data: dict[str, Any] | None
    headers: dict[str, str]
    raw: bytes


async def read_all(topic: str, timeout: float = 2.0) -> list[Rec]:
    """Every record of a topic, from the beginning, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], enable_auto_commit=False, auto_offset_reset="earliest", **kafka_options()
    )
    await consumer.start()
    try:
        await consumer._client._metadata_update(consumer._client.cluster, [topic])
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        if not tps:
            raise RuntimeError(f"topic {topic} does not exist")
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Rec] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= end[tp] for tp in tps]):
                break
            for records in (await consumer.getmany(timeout_ms=int(timeout * 1000))).values():
                for r in records:
                    try:
                        data = json_object(r.value)
                    except ValueError:
                        data = None
                    headers = {k: v.decode(errors="replace") for k, v in (r.headers or [])}
                    out.append(Rec(r.partition, r.offset, data, headers, r.value or b""))
        out.sort(key=lambda r: (r.partition, r.offset))
        return out
    finally:
        await consumer.stop()


def json_object(value: bytes | None) -> dict[str, Any] | None:
    """A record's JSON object, or None."""
    data = json.loads(value) if value else None
    return data if isinstance(data, dict) else None


def mail_files(folder: Path) -> dict[str, list[float]]:
    """When the SMTP sink stored each copy of each Message-ID (file modification times, sorted)."""
    ids: dict[str, list[float]] = defaultdict(list)
    for path in folder.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        ids[str(msg["Message-ID"]).strip()].append(path.stat().st_mtime)
    return {k: sorted(v) for k, v in ids.items()}


def expected_mail(outcome: dict[str, Any]) -> str:
    """The Message-ID notifications gives the e-mail of an outcome (derived from the outcome event's id)."""
    template = "demande_acceptee" if outcome["type"] == "DemandeAcceptee" else "demande_refusee"
    return f"<{event_id(outcome['message_id'], 'mail', template)}@notifications.grd.local>"


async def docs_by_id(db: Any, base: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The documents of these ids in a (possibly partitioned: base, base_000, ...) collection.

    One `_id` lookup per document in the partition the kit's hash gives (FerretDB serves `_id` equality from its
    index but scans a collection for `$in`), sixteen at a time."""
    pattern = re.compile(rf"^{re.escape(base)}(_\d{{3}})?$")
    names = sorted(n for n in await db.list_collection_names() if pattern.match(n))
    if not names:
        return {}
    gate = asyncio.Semaphore(16)
    out: dict[str, dict[str, Any]] = {}

    async def one(ident: str) -> None:
        name = base if names == [base] else partition_name(base, partition_of(ident, len(names)), len(names))
        async with gate:
            doc = await db[name].find_one({"_id": ident}, {"_inbox": 0, "_outbox": 0, "_offsets": 0})
        if doc is not None:
            out[ident] = doc

    await asyncio.gather(*(one(i) for i in sorted(ids)))
    return out


def holder_referentiel(doc: dict[str, Any] | None) -> str | None:
    """The référentiel's current holder of a PDS: the supplier whose holding period is open."""
    ouverts = [t for t in (doc or {}).get("titulaires", []) if t.get("fin") is None]
    return str(ouverts[-1]["fournisseur"]) if ouverts else None


def contract_in_service(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The contrats service's contracts en service on a PDS."""
    return [c for c in (doc or {}).get("contrats", []) if c.get("etat") == "en_service"]


class Observed:
    """What the topics, stores and mail folder hold, read once per reconciliation attempt."""

    outcomes: dict[str, list[dict[str, Any]]]
    results_raw: list[dict[str, Any]]
    flux: list[dict[str, Any]]
    affaire_events: dict[str, dict[str, Any]]
    intervention_events: dict[str, dict[str, Any]]
    dead: list[Rec]
    mails: dict[str, list[float]]
    affaires: dict[str, dict[str, Any]]
    interventions: dict[str, dict[str, Any]]
    pds_ref: dict[str, dict[str, Any]]
    pds_contrats: dict[str, dict[str, Any]]
    places: list[dict[str, Any]]
    capacities: dict[str, int]


async def observe(platform: Platform, sent: list[Sent], mail_folder: Path) -> Observed:
    """Read the outcomes, flux, affaire and intervention events, dead letters, e-mails and the services' stores."""
    o = Observed()
    demands = [s for s in sent if s.expected != "poison"]
    wanted = {str(s.envelope.message_id) for s in demands}
    refs = {reference_affaire(s.envelope.message_id) for s in demands}
    refs |= {str(s.envelope.payload.get("reference_affaire")) for s in demands if s.envelope.payload.get("reference_affaire")}
    o.outcomes = defaultdict(list)
    o.results_raw = []
    for r in await read_all(DEMANDES_RESULTATS.name):
        if r.data and r.data.get("payload", {}).get("demande_message_id") in wanted:
            o.outcomes[r.data["payload"]["demande_message_id"]].append(r.data)
            o.results_raw.append(r.data)
    o.flux = [r.data for r in await read_all(FLUX_C15.name) if r.data and r.data["payload"].get("reference_affaire") in refs]
    # Last status event per affaire / intervention: one key (the PDS) per affaire, so one partition, offset order.
    # The last status event as a consumer sees it: a copy of an event already seen (same message id, at-least-once)
    # is dropped, as every consumer of ours does; an event arriving after a newer one would show here.
    o.affaire_events = {}
    seen: set[str] = set()
    for r in await read_all(AFFAIRES_EVENEMENTS.name):
        if r.data and r.data.get("type") == "AffaireStatutChange" and r.data["payload"].get("reference_affaire") in refs:
            if str(r.data.get("message_id")) not in seen:
                seen.add(str(r.data.get("message_id")))
                o.affaire_events[r.data["payload"]["reference_affaire"]] = r.data["payload"]
    o.intervention_events = {}
    for r in await read_all(INTERVENTIONS_EVENEMENTS.name):
        if r.data and r.data.get("type") == "InterventionStatutChange" and r.data["payload"].get("reference_affaire") in refs:
            if str(r.data.get("message_id")) not in seen:
                seen.add(str(r.data.get("message_id")))
                o.intervention_events[r.data["payload"]["reference_affaire"]] = r.data["payload"]
    o.dead = await read_all(DLQ.name)
    o.mails = mail_files(mail_folder)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"], serverSelectionTimeoutMS=20000)
    try:
        o.affaires = await docs_by_id(client[platform["affaires"].env["AFFAIRES_DATABASE"]], "affaires", refs)
        plan_db = client[platform["planification"].env["PLANIFICATION_DATABASE"]]
        o.interventions = await docs_by_id(plan_db, "interventions", refs)
        o.places = [doc async for doc in plan_db["places"].find({})]
        slots = sorted(
            {str(p["creneau_id"]) for p in o.places} | {str(s.envelope.payload["creneau_id"]) for s in demands if "creneau_id" in s.envelope.payload}
        )
        o.capacities = {str(doc["_id"]): int(doc["capacite"]) async for doc in plan_db["creneaux"].find({"_id": {"$in": slots}}, {"capacite": 1})}
        pds = {s.pds.reference for s in demands if s.pds is not None and s.kind in CONTRACTUELLES}
        o.pds_ref = await docs_by_id(client[platform["referentiel"].env["REFERENTIEL_DATABASE"]], "pds", pds)
        o.pds_contrats = await docs_by_id(client[platform["contrats"].env["CONTRATS_DATABASE"]], "contrats_pds", pds)
    finally:
        await client.close()
    return o


def reconcile(o: Observed, sent: list[Sent], faults: list[Fault], default_capacity: int) -> Report:
    """Compare expectations with observations: one outcome per demand, flux, e-mails, dead letters, final states."""
    report = Report()
    demands = [s for s in sent if s.expected != "poison"]
    wanted = {str(s.envelope.message_id) for s in demands}
    by_kind = Counter(s.kind for s in demands)
    report.add("demands sent", f"{len(demands)}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    report.add("poison messages sent", sum(1 for s in sent if s.expected == "poison"))

    # -- exactly one outcome per demand, of the expected kind and code
    distinct = {mid: {d["message_id"] for d in ds} for mid, ds in o.outcomes.items()}
    missing = [s for s in demands if str(s.envelope.message_id) not in o.outcomes]
    doubled = [mid for mid, ids in distinct.items() if len(ids) > 1]
    copies = sum(len(ds) for ds in o.outcomes.values()) - sum(len(ids) for ids in distinct.values())
    accepted = sum(1 for ds in o.outcomes.values() if ds[0]["type"] == "DemandeAcceptee")
    report.add("outcomes (accepted / refused)", f"{len(o.outcomes)} ({accepted} / {len(o.outcomes) - accepted})")
    report.add("outcomes missing / more than one", f"{len(missing)} / {len(doubled)} (same-id copies: {copies})", not missing and not doubled)
    report.check(not missing, f"{len(missing)} demand(s) without outcome, e.g. {Counter(s.kind for s in missing).most_common(5)}")
    report.check(not doubled, f"{len(doubled)} demand(s) with more than one outcome")
    wrong = []
    for s in demands:
        ds = o.outcomes.get(str(s.envelope.message_id))
        if not ds or s.expected == "either":
            continue
        got_accepted = ds[0]["type"] == "DemandeAcceptee"
        if got_accepted != (s.expected == "accepted") or (s.code and ds[0]["payload"].get("code") != s.code):
            wrong.append((s.kind, ds[0]["payload"].get("code"), (ds[0]["payload"].get("message") or "")[:90]))
    report.add("outcomes of the wrong kind or code", len(wrong), not wrong)
    report.check(not wrong, f"{len(wrong)} outcome(s) of the wrong kind or code, e.g. {wrong[:4]}")
    disputed = [s for s in demands if s.expected == "either"]
    disputed_ok = [s for s in disputed if (o.outcomes.get(str(s.envelope.message_id)) or [{}])[0].get("type") == "DemandeAcceptee"]
    disputed_codes = Counter(
        (o.outcomes.get(str(s.envelope.message_id)) or [{"payload": {}}])[0]["payload"].get("code") for s in disputed if s not in disputed_ok
    )
    if disputed:
        slot = str(disputed[0].envelope.payload["creneau_id"])
        capacity = o.capacities.get(slot, default_capacity)
        ok = len(disputed_ok) == min(capacity, len(disputed)) and set(disputed_codes) <= {"CRENEAU_COMPLET"}
        report.add("one slot asked by several bookings", f"{len(disputed)} asked, {len(disputed_ok)} booked, refused {dict(disputed_codes)}", ok)
        report.check(ok, f"contested slot: {len(disputed_ok)} booked of {len(disputed)} (capacity {capacity}), refusals {dict(disputed_codes)}")

    # -- affaires: stored, and in the state of their last published status event
    accepted_refs = {
        str(ds[0]["payload"]["reference_affaire"])
        for s in demands
        if (ds := o.outcomes.get(str(s.envelope.message_id)))
        and ds[0]["type"] == "DemandeAcceptee"
        and s.kind not in ("annulation",)
        and not s.kind.startswith("reservation")
        and not s.kind.startswith("deplanification")
    }
    stored = accepted_refs & set(o.affaires)
    report.add("affaires of accepted demands / stored", f"{len(accepted_refs)} / {len(stored)}", len(stored) == len(accepted_refs))
    report.check(len(stored) == len(accepted_refs), f"{len(accepted_refs) - len(stored)} affaire(s) missing from the store")
    drift = [
        (ref, (doc.get("statut"), doc.get("etat")), (ev.get("statut"), ev.get("etat")) if ev else None)
        for ref, doc in o.affaires.items()
        if ref in accepted_refs
        and ((ev := o.affaire_events.get(ref)) is None or (ev.get("statut"), ev.get("etat")) != (doc.get("statut"), doc.get("etat")))
    ]
    report.add("affaires whose state differs from their last status event", len(drift), not drift)
    report.check(not drift, f"{len(drift)} affaire(s) not in the state last published, e.g. {drift[:3]}")
    kinds_of = {reference_affaire(s.envelope.message_id): s.kind for s in demands}
    unfinished = [
        (kinds_of[r], o.affaires[r].get("etat")) for r in stored if kinds_of.get(r) in CONTRACTUELLES and o.affaires[r].get("statut") != "terminee"
    ]
    report.add(
        "contract affaires terminée (date d'effet today)",
        f"{sum(1 for r in stored if kinds_of.get(r) in CONTRACTUELLES) - len(unfinished)} / "
        f"{sum(1 for r in stored if kinds_of.get(r) in CONTRACTUELLES)}",
        not unfinished,
    )
    report.check(not unfinished, f"{len(unfinished)} contract affaire(s) not terminée, e.g. {unfinished[:4]}")
    cancelled = [s for s in demands if s.kind == "annulation"]
    not_cancelled = [
        r for s in cancelled if (r := str(s.envelope.payload["reference_affaire"])) in o.affaires and o.affaires[r].get("statut") != "annulee"
    ]
    report.add("cancelled affaires annulée", f"{len(cancelled) - len(not_cancelled)} / {len(cancelled)}", not not_cancelled)
    report.check(not not_cancelled, f"{len(not_cancelled)} cancelled affaire(s) not annulée")

    # -- interventions: in the state of their last published event; places held only by planned interventions, capacity
    idrift = [
        (ref, doc.get("statut"), (ev or {}).get("statut"))
        for ref, doc in o.interventions.items()
        if (ev := o.intervention_events.get(ref)) is None or ev.get("statut") != doc.get("statut") or ev.get("creneau_id") != doc.get("creneau_id")
    ]
    report.add("interventions / differing from their last event", f"{len(o.interventions)} / {len(idrift)}", not idrift)
    report.check(not idrift, f"{len(idrift)} intervention(s) not in the state last published, e.g. {idrift[:3]}")
    ours = set(o.interventions)
    per_slot: Counter[str] = Counter(str(p["creneau_id"]) for p in o.places)
    over = {slot: n for slot, n in per_slot.items() if n > o.capacities.get(slot, default_capacity)}
    stray = [
        str(p["_id"])
        for p in o.places
        if str(p.get("titulaire")).split("@")[0] in ours
        and (
            "@" in str(p.get("titulaire"))
            or o.interventions[str(p["titulaire"])].get("statut") != "planifiee"
            or o.interventions[str(p["titulaire"])].get("creneau_id") != p["creneau_id"]
        )
    ]
    planned = [ref for ref, doc in o.interventions.items() if doc.get("statut") == "planifiee"]
    holders = Counter(str(p.get("titulaire")) for p in o.places)
    unplaced = [ref for ref in planned if holders.get(ref) != 1]
    report.add(
        "places: held / over capacity / not of a planned intervention / planned without one place",
        f"{sum(1 for p in o.places if str(p.get('titulaire')).split('@')[0] in ours)} / {len(over)} / {len(stray)} / {len(unplaced)}",
        not over and not stray and not unplaced,
    )
    report.check(not over, f"slot(s) above capacity: {dict(list(over.items())[:3])}")
    report.check(not stray, f"{len(stray)} place(s) not held by a planned intervention on that slot, e.g. {stray[:3]}")
    report.check(not unplaced, f"{len(unplaced)} planned intervention(s) without exactly one place, e.g. {unplaced[:3]}")

    # -- contract processes: C15 flux, and the holder in the référentiel = in contrats = expected
    per_ref: dict[str, Counter[str]] = defaultdict(Counter)
    last_entry: dict[str, str] = {}
    for d in {d["message_id"]: d for d in o.flux}.values():
        per_ref[d["payload"]["reference_affaire"]][d["payload"]["evenement"]] += 1
        if d["payload"]["evenement"] in ("CFNE", "MES"):
            last_entry[d["payload"]["pds"]] = d["payload"]["fournisseur"]
    flux_bad = [
        (s.kind, dict(per_ref.get(reference_affaire(s.envelope.message_id), {})))
        for s in demands
        if s.kind in FLUX_ATTENDU and s.expected == "accepted" and per_ref.get(reference_affaire(s.envelope.message_id)) != FLUX_ATTENDU[s.kind]
    ]
    n_flux = sum(1 for s in demands if s.kind in FLUX_ATTENDU and s.expected == "accepted")
    report.add("CF/MES/cessation with exactly their C15 flux", f"{n_flux - len(flux_bad)} / {n_flux} (records {len(o.flux)})", not flux_bad)
    report.check(not flux_bad, f"{len(flux_bad)} contract affaire(s) whose C15 flux is missing or doubled, e.g. {flux_bad[:3]}")
    holders_bad: list[tuple[object, ...]] = []
    values_bad: list[tuple[object, ...]] = []
    checked = 0
    for s in demands:
        if s.kind not in CONTRACTUELLES or s.expected != "accepted" or s.pds is None:
            continue
        checked += 1
        ref_doc, ctr_doc = o.pds_ref.get(s.pds.reference), o.pds_contrats.get(s.pds.reference)
        expected = {"changement_fournisseur": s.envelope.fournisseur, "mise_en_service": s.envelope.fournisseur, "cessation": None}.get(
            s.kind, s.pds.titulaire
        )
        in_service = contract_in_service(ctr_doc)
        observed = (holder_referentiel(ref_doc), in_service[0]["titulaire"] if len(in_service) == 1 else (None if not in_service else "several"))
        if s.kind in ("changement_fournisseur", "mise_en_service") and last_entry.get(s.pds.reference) != expected:
            holders_bad.append((s.kind, s.pds.reference, "C15", last_entry.get(s.pds.reference), expected))
        if observed != (expected, expected):
            holders_bad.append((s.kind, s.pds.reference, observed, expected))
        if s.kind in ("modification_re", "modification_contrat") and len(in_service) == 1:
            p = s.envelope.payload
            for name in ("re_code", "usage", "puissance_souscrite_kva"):
                if p.get(name) is not None and in_service[0].get(name) != p[name]:
                    values_bad.append((s.kind, name, in_service[0].get(name), p[name]))
    agree = checked - len({h[1] for h in holders_bad})
    report.add("PDS: holder référentiel = contrats = last CF/MES supplier", f"{agree} / {checked}", not holders_bad)
    report.check(not holders_bad, f"{len(holders_bad)} PDS whose holders disagree, e.g. {holders_bad[:3]}")
    report.add("modifications (RE, usage, power) in force in contrats", f"{len(values_bad)} wrong", not values_bad)
    report.check(not values_bad, f"{len(values_bad)} modification(s) not in force, e.g. {values_bad[:3]}")

    # -- e-mails of the outcomes, by Message-ID; copies sent again explained by a fault between the two copies
    expected_mails = [expected_mail(ds[0]) for ds in o.outcomes.values()]
    missing_mails = [m for m in expected_mails if m not in o.mails]
    resent = {m: o.mails[m] for m in expected_mails if len(o.mails.get(m, [])) > 1}

    def explained(times: list[float]) -> bool:
        # A copy is sent again when a crash or an outage struck between the SMTP send and the record of the e-mail as
        # sent: some fault happened between the first copy and the last (2 s of slack for the file times).
        return any(times[0] - 2 <= f.at <= times[-1] + 1 for f in faults)

    unexplained = [m for m, times in resent.items() if not explained(times)]
    report.add(
        "outcome e-mails expected / found (by Message-ID)", f"{len(expected_mails)} / {len(expected_mails) - len(missing_mails)}", not missing_mails
    )
    report.add(
        "e-mails sent again under the same Message-ID",
        f"{sum(len(t) - 1 for t in resent.values())} copies of {len(resent)} e-mails, unexplained by a fault: {len(unexplained)}",
        not unexplained,
    )
    report.check(not missing_mails, f"{len(missing_mails)} outcome e-mail(s) missing, e.g. {missing_mails[:2]}")
    report.check(not unexplained, f"{len(unexplained)} e-mail(s) sent again with no fault between the copies, e.g. {unexplained[:2]}")

    # -- dead letters: the poison, and nothing of ours else
    poison_raw = {s.raw for s in sent if s.expected == "poison"}
    poison_ids = {str(s.envelope.message_id) for s in sent if s.expected == "poison"}
    ours_dead = [r for r in o.dead if r.raw in poison_raw or (r.data and r.data.get("message_id") in poison_ids)]
    ours_at = {(r.partition, r.offset) for r in ours_dead}
    unexpected = [
        (r.headers.get("x-consumer"), r.headers.get("x-error", "")[:80])
        for r in o.dead
        if (r.partition, r.offset) not in ours_at and r.data is not None and r.data.get("correlation_id") in wanted
    ]
    report.add("dead letters (injected poison / unexpected)", f"{len(ours_dead)} / {len(unexpected)}", not unexpected)
    report.check(len({r.raw for r in ours_dead}) >= len(poison_raw), "an injected poison message did not reach the dead-letter topic")
    report.check(not unexpected, f"unexpected dead letters: {unexpected[:3]}")

    # -- per-PDS order of the demandes diverses' outcomes
    seq: dict[str, list[str]] = defaultdict(list)
    for s in demands:
        if s.kind == "demande_diverse":
            seq[s.envelope.key].append(str(s.envelope.message_id))
    position: dict[str, int] = {}
    for i, d in enumerate(o.results_raw):
        position.setdefault(d["payload"]["demande_message_id"], i)
    order_bad = sum(1 for mids in seq.values() if sorted(mids, key=lambda m: position.get(m, 1 << 60)) != mids)
    report.add("PDS with demandes diverses out of order", order_bad, order_bad == 0)
    report.check(order_bad == 0, f"{order_bad} PDS whose outcomes are not in the order of the demands")
    return report


#: The consumer groups of the platform (`<service>.<consumer>`): the backlog the fault run waits on.
GROUPES_PLATEFORME = tuple(f"{nom}." for nom in (*SERVICES, "passerelle"))


async def backlog(prefixes: tuple[str, ...] = GROUPES_PLATEFORME) -> int:
    """Records the platform's consumer groups still have to handle (end offset - committed offset, summed): read from
    Kafka's metadata only, so waiting on it costs the store nothing while the platform drains."""
    admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], **kafka_options())
    consumer = AIOKafkaConsumer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], enable_auto_commit=False, **kafka_options())
    await admin.start()
    await consumer.start()
    try:
        committed: dict[Any, int] = {}
        for group in sorted(str(g[0]) for g in await admin.list_consumer_groups()):
            if group.startswith(prefixes):
                for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                    committed[(group, tp)] = meta.offset
        ends = await consumer.end_offsets(list({tp for _, tp in committed})) if committed else {}
        return sum(max(0, ends[tp] - offset) for (_, tp), offset in committed.items() if offset >= 0)
    finally:
        await consumer.stop()
        await admin.close()


async def wait_for_drain(timeout: float, what: str) -> int:
    """Wait until the platform's consumer groups have nothing left to handle on two probes in a row (or `timeout`);
    returns the backlog seen last. The stores are read only after this: reading them while the platform drains made
    the reader compete with the platform for the store (the session-4 long runs that never settled)."""
    deadline = time.monotonic() + timeout
    left, quiet = -1, 0
    while time.monotonic() < deadline:
        try:
            left = await backlog()
        except Exception as exc:
            progress(f"kafka not readable yet: {exc!r}"[:160])
            left = -1
        quiet = quiet + 1 if left == 0 else 0
        if quiet >= 2:
            break
        if left > 0:
            progress(f"{what}: {left} records still to handle")
        await asyncio.sleep(5)
    return left


async def wait_for_interventions(platform: Platform, refs: set[str], timeout: float) -> set[str]:
    """The references among `refs` whose intervention planification has recorded (the store may be down a while)."""
    deadline = time.monotonic() + timeout
    found: set[str] = set()
    while time.monotonic() < deadline and found != refs:
        try:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"], serverSelectionTimeoutMS=5000)
            try:
                found |= set(await docs_by_id(client[platform["planification"].env["PLANIFICATION_DATABASE"]], "interventions", refs - found))
            finally:
                await client.close()
        except Exception as exc:
            progress(f"store not readable yet: {exc!r}"[:160])
        if found != refs:
            await asyncio.sleep(2)
    return found


async def planned_ones(platform: Platform, refs: set[str]) -> set[str]:
    """The references among `refs` whose intervention is planned (read from planification's store)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URL"], serverSelectionTimeoutMS=20000)
    try:
        docs = await docs_by_id(client[platform["planification"].env["PLANIFICATION_DATABASE"]], "interventions", refs)
    finally:
        await client.close()
    return {ref for ref, doc in docs.items() if doc.get("statut") == "planifiee"}


async def run(
    platform: Platform,
    demands: int,
    seed_count: int,
    kills_per_service: int,
    seed: int,
    timeout: float,
    exclude: frozenset[str] | set[str] = frozenset(),
    default_capacity: int = 3,
    cluster: bool = False,
) -> Report:
    """Publish the mixed stream in three phases under chaos (demands; bookings; déplanifications), then reconcile."""
    from platform_kit.producer import Producer

    rng = random.Random(seed)
    today = Clock().today()
    plan = plan_demands(demands, seed_count, rng, exclude, today)
    if isinstance(exclude, set):
        exclude.update(p.pds.reference for p in plan if p.pds is not None)  # the other e2e tests of the session avoid them
    held = next(p for p in generate_many(seed_count) if p.titulaire)
    # The suppliers' side publishes with the same self-healing producer as the services (it survives the outages).
    producer = Producer(os.environ["KAFKA_BOOTSTRAP_SERVERS"], "fault-run")
    await producer.start()
    sent: list[Sent] = []
    faults: list[Fault] = []
    duration = max(40.0, demands / 20)
    chaos_task = asyncio.create_task(chaos(platform, duration, kills_per_service, rng, faults, cluster))
    poison = poison_messages(held)
    t0 = time.monotonic()

    last_it: list[Sent] = []

    async def send(items: list[Planned], span: float) -> None:
        interval = span / max(1, len(items))
        start = time.monotonic()
        for i, item in enumerate(items):
            payload = item.payload
            if isinstance(payload, DemandeAnnulationV1) and payload.reference_affaire.startswith("@"):
                # The annulation of the intervention technique sent just before it (same PDS).
                payload = payload.model_copy(update={"reference_affaire": reference_affaire(last_it[-1].envelope.message_id)})
            env = new_envelope(payload, key=item.key, fournisseur=item.supplier)
            sent.append(Sent(env, item.kind, item.expected, code=item.code, pds=item.pds))
            if item.kind == "intervention_technique":
                last_it.append(sent[-1])
            await publish(producer, spec_for_model(type(payload)).topic_for(payload).name, env.model_dump_json().encode(), item.key.encode())
            if poison and rng.random() < 3 / max(1, len(plan)):
                p = poison.pop()
                sent.append(p)
                await publish(producer, DEMANDES.name, p.raw or b"", p.envelope.key.encode())
            await asyncio.sleep(max(0.0, start + interval * (i + 1) - time.monotonic()))

    # Phase 1: the demands (each annulation right after its intervention technique).
    await send(plan, duration * 0.45)
    for p in poison:
        sent.append(p)
        await publish(producer, DEMANDES.name, p.raw or b"", p.envelope.key.encode())
    progress(f"phase 1: {len(sent)} messages published")
    await chaos_task
    # Phase 2: bookings of the interventions « sur créneau horaire » once planification knows them (else the refusal
    # INTERVENTION_INCONNUE would be right, and the expectation racy).
    its = [s for s in sent if s.kind == "intervention_technique"]
    cancelled = {str(s.envelope.payload["reference_affaire"]) for s in sent if s.kind == "annulation"}
    await wait_for_drain(max(240.0, 2 * duration), "phase 1 draining")
    known = await wait_for_interventions(platform, {reference_affaire(s.envelope.message_id) for s in its}, max(240.0, 2 * duration))
    bookings = plan_reservations([s for s in its if reference_affaire(s.envelope.message_id) in known], cancelled, rng, today)
    # The bookings and déplanifications under fire too: one more SIGKILL of an instance of each service meanwhile.
    chaos_task = asyncio.create_task(chaos(platform, max(20.0, duration * 0.3), 1, rng, faults, infra=False))
    await send(bookings, max(5.0, duration * 0.2))
    progress(f"phase 2: {len(bookings)} bookings published")
    # Phase 3: déplanification of a third of the bookings that were planned.
    booked = {str(s.envelope.payload["reference_affaire"]): s for s in sent if s.kind == "reservation"}
    await wait_for_drain(max(240.0, 2 * duration), "phase 2 draining")
    deadline = time.monotonic() + max(240.0, 2 * duration)
    planned: set[str] = set()
    while time.monotonic() < deadline:
        try:
            planned = await planned_ones(platform, set(booked))
        except Exception as exc:
            progress(f"store not readable yet: {exc!r}"[:160])
        if len(planned) >= 0.9 * len(booked):
            break
        await asyncio.sleep(3)
    unbook = [
        Planned(
            "deplanification",
            "accepted",
            DeplanificationV1(pds=s.envelope.key, reference_affaire=ref),
            s.envelope.key,
            s.envelope.fournisseur or "",
            None,
            s.pds,
        )
        for ref, s in sorted(booked.items())
        if ref in planned and rng.random() < 1 / 3
    ]
    await send(unbook, max(3.0, duration * 0.1))
    progress(f"phase 3: {len(unbook)} déplanifications published ({time.monotonic() - t0:.0f}s)")
    await producer.stop()
    await chaos_task

    deadline = time.monotonic() + timeout
    report = Report()
    while True:
        await wait_for_drain(max(10.0, deadline - time.monotonic()), "settling")
        try:
            observed = await observe(platform, sent, Path(os.environ["SMTP_SINK_DIR"]))
            report = reconcile(observed, sent, faults, default_capacity)
        except Exception as exc:
            report = Report(failures=[f"could not read: {exc!r}"])
        if not report.failures or time.monotonic() > deadline:
            break
        progress(f"waiting for the platform to settle: {len(report.failures)} criteria not met yet ({report.failures[0][:100]})")
        await asyncio.sleep(20)  # due jobs, retries: a full reading costs the store, so not more often
    report.rows.insert(0, ("faults injected", "; ".join(f.what for f in faults), ""))
    report.rows.insert(1, ("instances per service", str(len(platform.instances_of("contrats"))), ""))
    report.rows.insert(2, ("from the first demand to this table", f"{time.monotonic() - t0:.0f}s (publishing: {duration:.0f}s planned)", ""))
    return report


def main() -> None:
    """Command-line entry point: start the platform, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demands", type=int, default=2000)
    parser.add_argument("--seed-count", type=int, default=20000, help="demo PDS loaded")
    parser.add_argument("--instances", type=int, default=2, help="processes per service")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per service (of a random instance)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--cluster",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("KAFKA_NODES") == "3",
        help="Kafka is the 3-node cluster of infra/kafka_cluster.sh (RF 3): SIGKILL each node in turn instead of the "
        "single broker (default: on when the stack was started with KAFKA_NODES=3)",
    )
    args = parser.parse_args()
    run_id = f"fault{uuid.uuid4().hex[:6]}"
    data = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data"))
    platform = Platform(run_id, data / "logs" / run_id, port_offset=int(os.environ.get("GRD_TEST_PORT_OFFSET", "0")), instances=args.instances)
    print(f"[fault] seeding {args.seed_count} PDS and starting {args.instances} instance(s) of each service ({run_id})...", flush=True)
    platform.seed(args.seed_count)
    for sp in platform.processes.values():
        sp.start()
    for sp in platform.processes.values():
        sp.wait_healthy(300)  # a dozen processes starting at once on a small machine
    t0 = time.monotonic()
    try:
        report = asyncio.run(run(platform, args.demands, args.seed_count, args.kills, args.seed, args.timeout, cluster=args.cluster))
    finally:
        platform.stop()
    report.rows.append(("wall time of the run", f"{time.monotonic() - t0:.0f}s", ""))
    print(report.render())
    sys.exit(0 if not report.failures else 1)


if __name__ == "__main__":
    main()
