"""The passerelle's two consumers: suppliers' inbound topics → grd.demandes (or a refusal), internal results → suppliers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from contracts import topics as t
from contracts.base import WireModel
from contracts.catalogue import CATALOGUE, spec_for_model
from contracts.envelope import Envelope
from platform_kit.errors import PermanentPublishError
from platform_kit.kafka_client import kafka_options
from platform_kit.messaging import HandlerContext
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
    The inbound one is a plain faststream subscriber because it subscribes by pattern (new suppliers' topics).
    Neither is on the handler port (`platform_kit.ports`): the passerelle holds no aggregate and decides nothing to
    commit; it forwards bytes or publishes a refusal straight to Kafka. Its rules are `domain.py`'s, unit-tested there.
    """

    def __init__(self, rt: Runtime, settings: Settings) -> None:
        self.rt = rt
        self.settings = settings
        self.destinations: set[str] = set()
        self._lu_a = float("-inf")

    def register(self) -> None:
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
        # The results: the kit's consumer (a lane per partition, batched commits), with no inbox: a copy's id derives
        # from the original's, so a redelivery only republishes a duplicate.
        sortants = self.rt.consumer("sortants", *(x for x in t.ALL_TOPICS if x.name in domain.SORTANTS), inbox=False)
        for spec in CATALOGUE:
            if any(x.name in domain.SORTANTS for x in spec.topics):
                sortants.handles(spec.model)(self.sortant)

        async def on_demande(body: Any) -> None:
            await self.demande(context.get_local("message"))

        entrants(on_demande)

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

    async def sortant(self, ctx: HandlerContext, payload: WireModel) -> None:
        """A result: a copy on the outbound topic of the supplier it concerns, if that supplier is onboarded."""
        env = ctx.envelope
        topic = spec_for_model(type(payload)).topic_for(payload).name
        copie = domain.copie_pour_fournisseur(topic, env)
        if copie is not None and await self.raccorde(copie[0]):
            dest, out = copie
            # The original is serialized again only if the copy has to be dead-lettered (not for every copy).
            await self._publier([(dest, out.model_dump_json().encode(), out.key.encode(), JSON)], lambda: env.model_dump_json().encode(), topic)
            self.rt.metrics.messages.labels(self.rt.metrics.service, env.type, "diffusee").inc()

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

    async def _publier(self, records: list[Record], body: bytes | Callable[[], bytes], origine: str) -> None:
        """Publish, waiting out broker outages; a record Kafka refuses for good is dead-lettered instead (`body`, or
        what it builds)."""
        try:
            await self.rt.wait_out_outages(lambda: self.rt.producer.send_all(records))
        except PermanentPublishError as exc:
            octets = body if isinstance(body, bytes) else body()
            await self.rt.dead_letter(octets, None, origine, f"{self.settings.service_name}", f"publication impossible: {exc}", 1)


def _octets(body: Any) -> bytes:
    return body if isinstance(body, bytes) else bytes(body)


def _cle(key: Any) -> str | None:
    return key.decode(errors="replace")[:256] if isinstance(key, bytes) and key else None
