"""The platform's one clock: real time plus an offset that demos and tests move forward for every service at once.

Every service reads the time from `Runtime.clock` (`now()`, `today()`); domain functions take `today`/`now` as
parameters. With `GRD_CLOCK_CONTROL=1` (demo and test commands only) each runtime follows the compacted topic
`grd.horloge.v1`, whose record keyed by the clock's name (`GRD_CLOCK_NAME`) carries the offset; moving it is
`python -m platform_kit.clock avancer --jours 8`: no restart, no sleep. Without the setting (production) the topic is
never read and the offset stays zero: the control does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from prometheus_client import CollectorRegistry, Gauge
from rich.console import Console

from contracts.topics import HORLOGE
from platform_kit.kafka_client import kafka_options

log = logging.getLogger(__name__)

TOPIC = HORLOGE.name
NOM_PAR_DEFAUT = "grd"
FUSEAU = ZoneInfo("Europe/Paris")


def aujourdhui_reel() -> date:
    """Today's real date in France, without the control offset (what a supplier's system calls today)."""
    return datetime.now(FUSEAU).date()


def _maintenant_reel() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Now and today for the platform: the real time (or a fixed day, for tests), shifted by the control offset."""

    def __init__(
        self,
        *,
        jour_fixe: date | None = None,
        fuseau: ZoneInfo = FUSEAU,
        source: Callable[[], datetime] = _maintenant_reel,
        controle: ClockControl | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.jour_fixe = jour_fixe
        self.fuseau = fuseau
        self.source = source
        self.controle = controle
        self._decalage = timedelta(0)
        self.ready = asyncio.Event()
        # Set (then replaced) at each change of the offset or of the fixed day: wakes the jobs sleeping in `attendre_changement`.
        self._change = asyncio.Event()
        self._jauge = (
            Gauge("grd_horloge_decalage_secondes", "Offset of the platform clock from real time (demo/test control).", registry=registry)
            if registry is not None
            else None
        )
        if self._jauge is not None:
            self._jauge.set(0)

    @classmethod
    def from_settings(cls, settings: Any, registry: CollectorRegistry | None = None) -> Clock:
        """The clock of a service: controlled by the topic when `clock_control` is on, real time otherwise."""
        controle = None
        if getattr(settings, "clock_control", False):
            controle = ClockControl(settings.kafka_bootstrap_servers, getattr(settings, "clock_name", NOM_PAR_DEFAUT))
        return cls(controle=controle, registry=registry)

    @property
    def decalage(self) -> timedelta:
        """The current offset from real time."""
        return self._decalage

    def regler(self, decalage: timedelta) -> None:
        """Set the offset (the control topic does it; unit tests call it directly)."""
        changed = decalage != self._decalage
        self._decalage = decalage
        if self._jauge is not None:
            self._jauge.set(decalage.total_seconds())
        if changed:
            self._signaler()

    def avancer(self, duree: timedelta) -> None:
        """Move the clock forward by `duree`."""
        self.regler(self._decalage + duree)

    def fixer_jour(self, jour: date | None) -> None:
        """Pin 'today' to a day (the services' `date_du_jour` setting, for tests and demos); None for the real date."""
        changed = jour != self.jour_fixe
        self.jour_fixe = jour
        if changed:
            self._signaler()

    def _signaler(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def attendre_changement(self, delai_s: float) -> bool:
        """Sleep `delai_s` seconds, or less if the clock is moved meanwhile (then True): due jobs run at once."""
        change = self._change
        try:
            await asyncio.wait_for(change.wait(), delai_s)
            return True
        except TimeoutError:
            return False

    def now(self) -> datetime:
        """The current instant (UTC, aware)."""
        reel = self.source()
        if self.jour_fixe is not None:
            local = reel.astimezone(self.fuseau)
            reel = datetime.combine(self.jour_fixe, local.timetz()).astimezone(UTC)
        return reel + self._decalage

    def today(self) -> date:
        """Today's date in the GRD's time zone (dates d'effet are local dates)."""
        return self.now().astimezone(self.fuseau).date()

    async def run(self) -> None:
        """Follow the control topic until cancelled (returns at once when the control is off)."""
        if self.controle is None:
            self.ready.set()
            return
        await self.controle.suivre(self)


class ClockControl:
    """Reads the offset of one named clock from the compacted control topic."""

    def __init__(self, bootstrap: str, nom: str, topic: str = TOPIC) -> None:
        self.bootstrap = bootstrap
        self.nom = nom
        self.topic = topic

    async def suivre(self, clock: Clock) -> None:
        """Apply every offset published for this clock, from the topic's beginning; retry while Kafka is away."""
        attente = 2.0
        while True:
            try:
                await self._lire(clock)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Kafka away, or no read right on the topic: retry, ever less often (the offset stays as it was).
                log.warning("horloge : topic de contrôle injoignable, nouvel essai dans %.0f s", attente, exc_info=attente <= 2.0)
                await asyncio.sleep(attente)
                attente = min(attente * 2, 60.0)

    async def _lire(self, clock: Clock) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", **kafka_options())
        await consumer.start()
        try:
            tp = TopicPartition(self.topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            fin = (await consumer.end_offsets([tp]))[tp]
            while True:
                lot = await consumer.getmany(tp, timeout_ms=500)
                for record in lot.get(tp, []):
                    decalage = lire_decalage(record.key, record.value, self.nom)
                    if decalage is not None:
                        clock.regler(decalage)
                        log.info("horloge décalée de %s", decalage)
                if not clock.ready.is_set() and await consumer.position(tp) >= fin:
                    clock.ready.set()
        finally:
            await consumer.stop()


def lire_decalage(key: bytes | None, value: bytes | None, nom: str) -> timedelta | None:
    """The offset a control record sets for the clock `nom`, or None when the record is about another clock."""
    if key is None or key.decode() != nom or not value:
        return None
    return timedelta(seconds=float(json.loads(value)["decalage_s"]))


async def creer_topic(bootstrap: str, topic: str = TOPIC) -> None:
    """Create the control topic when missing (infra/up.sh creates it with the others; a service may not create topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options())
    await admin.start()
    try:
        if topic in set(await admin.list_topics()):
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        await admin.close()


async def decalage_publie(bootstrap: str, nom: str = NOM_PAR_DEFAUT, topic: str = TOPIC) -> timedelta:
    """The offset last published for the clock `nom` (zero when none)."""
    await creer_topic(bootstrap, topic)
    clock = Clock(controle=ClockControl(bootstrap, nom, topic))
    assert clock.controle is not None
    tache = asyncio.create_task(clock.controle._lire(clock))
    try:
        await asyncio.wait_for(clock.ready.wait(), 30)
    finally:
        tache.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tache
    return clock.decalage


async def publier_decalage(bootstrap: str, decalage: timedelta, nom: str = NOM_PAR_DEFAUT, topic: str = TOPIC) -> None:
    """Publish the offset of the clock `nom`: every service whose control is on follows it within a second or so."""
    await creer_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **kafka_options())
    await producer.start()
    try:
        valeur = {"decalage_s": decalage.total_seconds(), "regle_le": datetime.now(UTC).isoformat()}
        await producer.send_and_wait(topic, json.dumps(valeur).encode(), key=nom.encode(), partition=0)
    finally:
        await producer.stop()


async def avancer(bootstrap: str, duree: timedelta, nom: str = NOM_PAR_DEFAUT, topic: str = TOPIC) -> timedelta:
    """Move the clock `nom` forward by `duree`; the new offset."""
    nouveau = await decalage_publie(bootstrap, nom, topic) + duree
    await publier_decalage(bootstrap, nouveau, nom, topic)
    return nouveau


cli = typer.Typer(help="Horloge de la plateforme (démo et tests : GRD_CLOCK_CONTROL=1 sur les services).", no_args_is_help=True)
console = Console()


def _bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def _nom() -> str:
    return os.environ.get("GRD_CLOCK_NAME", NOM_PAR_DEFAUT)


def _afficher(decalage: timedelta) -> None:
    maintenant = datetime.now(UTC) + decalage
    console.print(f"horloge [bold]{_nom()}[/] : décalage {decalage} → aujourd'hui {maintenant.astimezone(FUSEAU).date():%d/%m/%Y}")


@cli.command("avancer")
def commande_avancer(
    jours: int = typer.Option(0, "--jours", min=0, help="Days to move forward."),
    heures: int = typer.Option(0, "--heures", min=0, help="Hours to move forward."),
) -> None:
    """Move the platform's clock forward (never backward: time only moves on)."""
    _afficher(asyncio.run(avancer(_bootstrap(), timedelta(days=jours, hours=heures), _nom())))


@cli.command("remettre")
def commande_remettre() -> None:
    """Put the clock back to real time (offset zero): for a fresh demo; what already happened stays."""
    asyncio.run(publier_decalage(_bootstrap(), timedelta(0), _nom()))
    _afficher(timedelta(0))


@cli.command("afficher")
def commande_afficher() -> None:
    """Show the current offset and the platform's date."""
    _afficher(asyncio.run(decalage_publie(_bootstrap(), _nom())))


if __name__ == "__main__":
    cli()
