"""Store commands per handled event of the notifications use case, counted on the real FerretDB (CommandCounter).

A demande diverse or a réclamation reaches notifications as two events: the acceptance (one e-mail to the supplier)
and the affaire's opening (the affaire's follow-up). The handler is called directly, as the consumer would, and the
commands are read from the runtime's own CommandCounter metric (grd_store_commands_total, partitions folded).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts import topics
from contracts.common import StatutAffaire, TypeAffaire
from contracts.envelope import new_envelope
from contracts.evenements import AffaireStatutChangeV1, DemandeAccepteeV1
from platform_kit.messaging import HandlerContext
from platform_kit.runtime import Runtime
from services.notifications.app import create_app
from services.notifications.domain import message_id_mail
from services.notifications.handlers import Notifications
from services.notifications.settings import Settings
from services.notifications.store import INDEX_MAILS, mails_du_fournisseur
from tests.support import bootstrap, mails, mongodb_url, require_env, skip_history, unique_db

pytestmark = pytest.mark.integration

#: Demands measured after a warm-up one (the supplier's address read once, then cached).
DEMANDES = 20


def commands(rt: Runtime) -> Counter[str]:
    """The store commands the runtime counted so far, as 'command collection' (the supplier suffix folded too)."""
    out: Counter[str] = Counter()
    for metric in rt.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "grd_store_commands_total":
                collection = sample.labels["collection"]
                if collection.startswith("mails_par_fournisseur_"):
                    collection = "mails_par_fournisseur_<CODE>"
                out[f"{sample.labels['command']} {collection}"] += int(sample.value)
    return out


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[tuple[Runtime, Notifications]]:
    """The notifications runtime (its own database, the real SMTP sink); its consumers read nothing (no event sent)."""
    require_env("SMTP_HOST")
    settings = Settings(
        service_name=f"notifications-cmd-{uuid.uuid4().hex[:6]}",
        database=unique_db("grd_notifications"),
        mongodb_url=mongodb_url(),
        kafka_bootstrap_servers=bootstrap(),
        backoff_max_s=0.5,
    )
    consumed = (topics.DEMANDES_RESULTATS, topics.AFFAIRES_EVENEMENTS, topics.INTERVENTIONS_EVENEMENTS, topics.CONTRATS_EVENEMENTS)
    await skip_history(f"{settings.service_name}.mails", consumed)
    app = create_app(settings)
    rt: Runtime = app.state.runtime
    await rt.start()
    await asyncio.wait_for(rt.broker_ready.wait(), 30)
    yield rt, app.state.notifications
    await rt.mongo.drop_database(settings.database_name)
    await rt.stop()


def demande_diverse() -> tuple[HandlerContext, DemandeAccepteeV1, HandlerContext, AffaireStatutChangeV1]:
    """The two events a demande diverse sends notifications: its acceptance and its affaire's opening."""
    ref = "A" + uuid.uuid4().hex[:8].upper()
    pds = f"PDS{uuid.uuid4().int % 10**14:014d}"
    acceptee = DemandeAccepteeV1(
        demande_message_id=uuid.uuid4(),
        demande_type="DemandeDiverse",
        reference_affaire=ref,
        pds=pds,
        message=f"Votre demande sur le PDS {pds} a été enregistrée sous la référence {ref}.",
    )
    ouverture = AffaireStatutChangeV1(
        reference_affaire=ref, type_affaire=TypeAffaire.DEMANDE_DIVERSE, pds=pds, statut=StatutAffaire.EN_COURS, etat="creee"
    )
    env_a = new_envelope(acceptee, key=pds, fournisseur="LUMEN")
    env_o = new_envelope(ouverture, key=pds, fournisseur="LUMEN")
    return HandlerContext(env_a, "notifications.mails"), acceptee, HandlerContext(env_o, "notifications.mails"), ouverture


async def handled(notifications: Notifications, ctx: HandlerContext, payload: Any) -> None:
    """Handle one event as the consumer does (a fresh context: a redelivery is a new unit of work)."""
    await notifications.handle(HandlerContext(ctx.envelope, ctx.consumer), payload)


def per_demand(before: Counter[str], after: Counter[str], n: int) -> dict[str, float]:
    return {k: (after[k] - before[k]) / n for k in sorted(after) if after[k] - before[k]}


async def test_store_commands_per_demande_diverse_and_per_redelivery(service: tuple[Runtime, Notifications]) -> None:
    rt, notifications = service
    warm = demande_diverse()
    await handled(notifications, warm[0], warm[1])
    await handled(notifications, warm[2], warm[3])

    demandes = [demande_diverse() for _ in range(DEMANDES)]
    before = commands(rt)
    for ctx_a, acceptee, ctx_o, ouverture in demandes:
        await handled(notifications, ctx_a, acceptee)
        await handled(notifications, ctx_o, ouverture)
    first = commands(rt)
    for ctx_a, acceptee, ctx_o, ouverture in demandes:
        await handled(notifications, ctx_a, acceptee)
        await handled(notifications, ctx_o, ouverture)
    again = commands(rt)

    normal, redelivered = per_demand(before, first, DEMANDES), per_demand(first, again, DEMANDES)
    print(f"\nstore commands per demande diverse: {sum(normal.values()):.2f} {normal}")
    print(f"store commands per redelivered demande diverse: {sum(redelivered.values()):.2f} {redelivered}")
    # The acceptance: the e-mail's record read (the check that keeps a redelivery from sending it again), written with
    # its announcement, the announcement cleared once published, then the supplier's list entry. The opening: its
    # follow-up inserted without a read. (Before: 6, with a read of the follow-up.)
    assert normal == {
        "find mails": 1,
        "insert mails": 1,
        "update mails": 1,
        "update mails_par_fournisseur_<CODE>": 1,
        "insert suivi_affaires": 1,
    }
    # A redelivery sends nothing: the e-mail's record read, found sent, its list entry written again (what a crash
    # between the record and the entry left missing); the opening's insert refused, its follow-up read.
    assert redelivered == {"find mails": 1, "update mails_par_fournisseur_<CODE>": 1, "insert suivi_affaires": 1, "find suivi_affaires": 1}
    # Each e-mail sent once, whatever the redeliveries.
    ids = {message_id_mail(ctx_a.envelope.message_id, "demande_acceptee") for ctx_a, *_ in demandes}
    sent = Counter(str(m["Message-ID"]) for m in mails(lambda m: str(m["Message-ID"]) in ids))
    assert sent == dict.fromkeys(ids, 1)


async def test_a_crash_before_the_index_entry_is_repaired_by_the_redelivery_without_a_second_mail(service: tuple[Runtime, Notifications]) -> None:
    rt, notifications = service
    ctx_a, acceptee, _ctx_o, _ouverture = demande_diverse()
    mid = message_id_mail(ctx_a.envelope.message_id, "demande_acceptee")
    index = rt.db[f"{INDEX_MAILS}_LUMEN"]

    async def crash(message_id: str, state: dict[str, Any]) -> None:
        raise ConnectionError("processus arrêté avant l'entrée d'index")

    # The first handling stops right after the record and its announcement: the index write fails.
    indexer = notifications.indexer_mail
    notifications.indexer_mail = crash
    try:
        with pytest.raises(ConnectionError):
            await handled(notifications, ctx_a, acceptee)
    finally:
        notifications.indexer_mail = indexer
    record = await notifications.mails.collection_for(mid).find_one({"_id": mid})  # type: ignore[attr-defined]
    assert record is not None and record["status"] == "sent" and not record["_outbox"]  # recorded, announced
    assert await index.find_one({"_id": mid}) is None
    assert mid not in {e["_id"] for e in await mails_du_fournisseur(rt.db, "LUMEN", acceptee.reference_affaire)}

    # The message's offset was not committed: it is redelivered, finds its record sent and writes the entry.
    before = commands(rt)
    await handled(notifications, ctx_a, acceptee)
    assert per_demand(before, commands(rt), 1) == {"find mails": 1, "update mails_par_fournisseur_<CODE>": 1}
    entry = await index.find_one({"_id": mid})
    assert entry is not None and (entry["status"], entry["fournisseur"], entry["reference_affaire"]) == ("sent", "LUMEN", acceptee.reference_affaire)
    listed = await mails_du_fournisseur(rt.db, "LUMEN", acceptee.reference_affaire)
    assert [(e["_id"], e["status"], e["recipients"]) for e in listed] == [(mid, "sent", record["recipients"])]
    # Sent once: the SMTP sink holds one e-mail with its Message-ID.
    assert len(mails(lambda m: str(m["Message-ID"]) == mid)) == 1
