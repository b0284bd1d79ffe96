"""The passerelle's two consumers: suppliers' inbound topics → grd.demandes (or a refusal), internal results → suppliers."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from contracts import topics as t
from contracts.envelope import Envelope
from platform_kit.errors import PermanentPublishError
from platform_kit.kafka_client import kafka_options
from platform_kit.producer import Record
from platform_kit.runtime import Runtime
from services.passerelle import domain
from services.passerelle.settings import Settings

log = logging.getLogger(__name__)
JSON = {"content-type": "application/json"}


class Passerelle:
    """Checks each supplier demand against its channel and fans the internal results out to the suppliers concerned.

    Both consumers commit a record only once what it causes is acknowledged by Kafka (at-least-once); everything
    they publish has an id derived from the record, so a redelivery only makes duplicates that consumers drop.
    """

    def __init__(self, rt: Runtime, settings: Settings) -> None:
        self.rt = rt
        self.settings = settings
        self.destinations: set[str] = set()
        self._lu_a = float("-inf")

    def brancher(self) -> None:
        """Register the two subscribers on the runtime's broker (started with it)."""
        broker = self.rt.broker
        context = broker.context
        reset = self.rt.settings.consumer_offset_reset
        name = self.settings.service_name
        # A pattern: a newly onboarded supplier's topic is picked up at the next metadata refresh, without restart.
        entrants = broker.subscriber(
            pattern=t.FOURNISSEUR_DEMANDES_MOTIF,
            group_id=f"{name}.demandes",
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=reset,
            title=f"{name}.demandes",
            description="Supplier demands, checked against their channel",
        )
        sortants = broker.subscriber(
            *domain.SORTANTS,
            group_id=f"{name}.sortants",
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=reset,
            title=f"{name}.sortants",
            description="Outcomes, affaire events and flux, re-published to the supplier concerned",
        )

        async def on_demande(body: Any) -> None:
            await self.demande(context.get_local("message"))

        async def on_sortant(body: Any) -> None:
            await self.sortant(context.get_local("message"))

        entrants(on_demande)
        sortants(on_sortant)

    async def demande(self, msg: KafkaMessage) -> None:
        """A record of a supplier's inbound topic: forward it unchanged (same id) or publish its refusal."""
        rec: Any = msg.raw_message
        topic, body = str(rec.topic), _octets(msg.body)
        canal = domain.fournisseur_du_canal(topic)
        if canal is None:  # the pattern matched a topic the domain does not parse: a programming error
            log.error("passerelle: canal inconnu %s", topic)
            await msg.ack()
            return
        try:
            env = Envelope.model_validate_json(body)
        except (ValueError, ValidationError) as exc:
            cause = domain.cause_illisible(topic, rec.partition, rec.offset)
            refus = domain.enveloppe_refus(canal, domain.illisible(str(exc)), cause, key=_cle(rec.key) or canal)
            await self._publier([(t.DEMANDES_RESULTATS.name, refus.model_dump_json().encode(), refus.key.encode(), JSON)], body, topic)
            await msg.ack()
            return
        refusee = domain.controler(canal, env)
        if refusee is None:
            record: Record = (t.DEMANDES.name, body, env.key.encode(), JSON)
            self.rt.metrics.messages.labels(self.rt.metrics.service, env.type, "transmise").inc()
        else:
            log.warning("passerelle: demande refusée %s (%s)", env.message_id, refusee.code, extra={"fields": {"canal": canal}})
            refus = domain.enveloppe_refus(canal, refusee, env.message_id, env.key, env.correlation_id)
            record = (t.DEMANDES_RESULTATS.name, refus.model_dump_json().encode(), refus.key.encode(), JSON)
            self.rt.metrics.messages.labels(self.rt.metrics.service, env.type, refusee.code).inc()
        await self._publier([record], body, topic)
        await msg.ack()

    async def sortant(self, msg: KafkaMessage) -> None:
        """A record of an internal result topic: a copy on the outbound topic of the supplier it concerns, if onboarded."""
        rec: Any = msg.raw_message
        topic, body = str(rec.topic), _octets(msg.body)
        try:
            env = Envelope.model_validate_json(body)
        except (ValueError, ValidationError):
            await msg.ack()  # the services dead-letter what they cannot read; nothing to forward to anyone
            return
        copie = domain.copie_pour_fournisseur(topic, env)
        if copie is not None and await self.raccorde(copie[0]):
            dest, out = copie
            await self._publier([(dest, out.model_dump_json().encode(), out.key.encode(), JSON)], body, topic)
            self.rt.metrics.messages.labels(self.rt.metrics.service, env.type, "diffusee").inc()
        await msg.ack()

    async def raccorde(self, topic: str) -> bool:
        """Whether this supplier topic exists and is ours to write (its supplier is onboarded); re-read at most every few seconds."""
        if topic in self.destinations:
            return True
        if time.monotonic() - self._lu_a >= self.settings.relecture_fournisseurs_s:
            self._lu_a = time.monotonic()
            admin = AIOKafkaAdminClient(bootstrap_servers=self.rt.settings.kafka_bootstrap_servers, **kafka_options())
            try:
                await admin.start()
                # Only the topics this principal may describe are listed: those of onboarded suppliers.
                self.destinations = {n for n in await admin.list_topics() if n.startswith(t.FOURNISSEURS_PREFIXE)}
            finally:
                await admin.close()
        return topic in self.destinations

    async def _publier(self, records: list[Record], body: bytes, origine: str) -> None:
        """Publish, waiting out broker outages; a record Kafka refuses for good is dead-lettered instead."""
        try:
            await self.rt.wait_out_outages(lambda: self.rt.producer.send_all(records))
        except PermanentPublishError as exc:
            await self.rt.dead_letter(body, None, origine, f"{self.settings.service_name}", f"publication impossible: {exc}", 1)


def _octets(body: Any) -> bytes:
    return body if isinstance(body, bytes) else bytes(body)


def _cle(key: Any) -> str | None:
    return key.decode(errors="replace")[:256] if isinstance(key, bytes) and key else None
