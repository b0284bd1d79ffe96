"""Send a first demand as a supplier's system would, and follow it: `python -m devtools.demo`."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.common import ChoixReleve, Contact, ContratConclu, ModaliteIntervention
from contracts.demandes import DemandeChangementFournisseurV1
from contracts.envelope import new_envelope
from contracts.references import reference_affaire
from contracts.topics import fournisseur_demandes, topics_sortants
from demo_data.generator import generate_many
from platform_kit.acl import client_env
from platform_kit.clock import aujourdhui_reel
from platform_kit.kafka_client import kafka_options
from platform_kit.reference import reference


async def main() -> None:
    """Publish a changement de fournisseur on a demo AMM PDS and print what comes back."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    offset = uuid.uuid4().int % 2000
    pds = next(p for p in generate_many(3000, start=1 + offset) if p.segment == "C5" and p.etat == "en_service" and p.compteur["teleoperable"])
    supplier = next(f.code for f in reference().fournisseurs if f.code != pds.titulaire)
    demande = DemandeChangementFournisseurV1(
        pds=pds.reference,
        date_effet_souhaitee=aujourdhui_reel() + timedelta(days=7),
        choix_releve=ChoixReleve.ESTIMATION,
        contrat_conclu=ContratConclu(reference="CTR-DEMO-001", date_signature=aujourdhui_reel()),
        telephones=("0601020304",),
        demandeur=Contact(nom="BERNARD", prenom="Anne", telephone="0145000000"),
        modalite_intervention=ModaliteIntervention.STANDARD,
        configuration_demandee="BASE",
    )
    env = new_envelope(demande, key=pds.reference, fournisseur=supplier)
    ref = reference_affaire(env.message_id)
    print(f"{supplier} demande un changement de fournisseur sur {pds.reference} (titulaire actuel : {pds.titulaire})")
    print(f"message_id={env.message_id}  affaire attendue={ref}\n{json.dumps(env.model_dump(mode='json'), indent=2)}\n")
    # As the supplier's system: its own Kafka principal, its own inbound topic, its own outbound topics and groups.
    securite = kafka_options({**os.environ, **client_env(supplier)})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **securite)
    await producer.start()
    await producer.send_and_wait(fournisseur_demandes(supplier).name, env.model_dump_json().encode(), key=pds.reference.encode())
    await producer.stop()
    consumer = AIOKafkaConsumer(
        *(t.name for t in topics_sortants(supplier)),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"fournisseurs.{supplier}.demo-{uuid.uuid4().hex[:6]}",
        **securite,
    )
    await consumer.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    data = json.loads(r.value)
                    payload = data.get("payload", {})
                    if data.get("correlation_id") == str(env.message_id):
                        print(f"<- {r.topic}  {data['type']}: {json.dumps(payload, ensure_ascii=False)[:300]}")
                        if data["type"] == "AffaireStatutChange" and payload.get("statut") == "terminee":
                            print(f"\nAffaire {ref} terminée. E-mails : voir le dossier du serveur SMTP local.")
                            return
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
