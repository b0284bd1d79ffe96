"""Periodic probes: consumer-group lag from Kafka's admin API, lanes from the services' /metrics, health of every part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from platform_kit.kafka_client import kafka_options
from platform_kit.runtime import Runtime
from services.supervision.metrics import SupervisionMetrics
from services.supervision.settings import Settings

log = logging.getLogger(__name__)


def lire_services(spec: str) -> dict[str, str]:
    """Parse `name=url,name=url` (SUPERVISION_SERVICES)."""
    out: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, url = item.partition("=")
        out[name.strip()] = url.strip().rstrip("/")
    return out


@dataclass
class LigneLag:
    """One partition of one consumer group: committed offset, end offset, lag and its change since the last probe."""

    groupe: str
    topic: str
    partition: int
    commis: int
    fin: int
    lag: int
    variation: int


@dataclass
class Instantane:
    """What the last probe round saw."""

    le: datetime | None = None
    sante: dict[str, dict[str, Any]] = field(default_factory=dict)
    lags: list[LigneLag] = field(default_factory=list)
    voies: list[dict[str, Any]] = field(default_factory=list)
    erreurs: list[str] = field(default_factory=list)


def lire_voies(service: str, texte: str) -> list[dict[str, Any]]:
    """The lanes a service's /metrics reports (grd_lane_stalled and grd_lane_records_total), one row per partition."""
    voies: dict[tuple[str, str, str], dict[str, Any]] = {}
    for famille in text_string_to_metric_families(texte):
        if famille.name not in ("grd_lane_stalled", "grd_lane_records"):
            continue
        for s in famille.samples:
            if s.name not in ("grd_lane_stalled", "grd_lane_records_total"):
                continue
            cle = (s.labels.get("group", "?"), s.labels.get("topic", "?"), s.labels.get("partition", "?"))
            vide = {"service": service, "groupe": cle[0], "topic": cle[1], "partition": cle[2], "bloquee": False, "traites": 0}
            ligne = voies.setdefault(cle, vide)
            if s.name == "grd_lane_stalled":
                ligne["bloquee"] = s.value >= 1
            else:
                ligne["traites"] = int(s.value)
    return sorted(voies.values(), key=lambda v: (not v["bloquee"], v["service"], v["groupe"], v["topic"], v["partition"]))


class Sondes:
    """The probes, run every `sonde_intervalle_s` (`rt.every`, in app.py); keeps the last round for the page (no probe runs per request)."""

    def __init__(self, rt: Runtime, settings: Settings, metrics: SupervisionMetrics) -> None:
        self.rt = rt
        self.settings = settings
        self.metrics = metrics
        self.services = lire_services(settings.services)
        self.dernier = Instantane()
        self._lags_precedents: dict[tuple[str, str, int], int] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._http: httpx.AsyncClient | None = None
        rt.shutdown_hooks.append(self.fermer)

    async def sonder_une_fois(self, _full: bool = True) -> None:
        """One probe round, kept for the page (run by `rt.every`: a failing part is reported on the page; a round that
        fails as a whole is logged and tried again)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=3)
        self.dernier = await self.sonder(self._http)

    async def sonder(self, http: httpx.AsyncClient) -> Instantane:
        """One round: every service's /health and /metrics, Kafka, the store, SMTP and the groups' lag, concurrently."""
        inst = Instantane(le=datetime.now(UTC))
        resultats = await asyncio.gather(
            *(self._service(http, nom, url) for nom, url in self.services.items()),
            self._kafka(),
            self._store(),
            self._smtp(),
        )
        for nom, etat, voies in resultats[: len(self.services)]:
            inst.sante[nom] = etat
            inst.voies.extend(voies)
        for nom, etat, _ in resultats[len(self.services) :]:
            inst.sante[nom] = etat
        for nom, etat in inst.sante.items():
            self.metrics.cible.labels(nom).set(1 if etat["ok"] else 0)
        if inst.sante["kafka"]["ok"]:
            try:
                inst.lags = await self._lags()
            except Exception as exc:
                inst.erreurs.append(f"lag des groupes : {exc!r}")
                await self._fermer_kafka()
        inst.voies.sort(key=lambda v: (not v["bloquee"], v["service"], v["groupe"], v["topic"], v["partition"]))
        return inst

    async def _service(self, http: httpx.AsyncClient, nom: str, url: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        debut = time.perf_counter()
        try:
            reponse = await http.get(f"{url}/health")
            detail = reponse.json() if reponse.headers.get("content-type", "").startswith("application/json") else {}
            etat: dict[str, Any] = {"ok": reponse.status_code == 200, "code": reponse.status_code, "detail": detail}
        except httpx.HTTPError as exc:
            return nom, {"ok": False, "code": None, "detail": {"erreur": repr(exc)}, "ms": None}, []
        etat["ms"] = round((time.perf_counter() - debut) * 1000, 1)
        voies: list[dict[str, Any]] = []
        try:
            metriques = await http.get(f"{url}/metrics")
            if metriques.status_code == 200:
                voies = lire_voies(nom, metriques.text)
        except (httpx.HTTPError, ValueError):
            log.debug("metrics of %s unreadable", nom, exc_info=True)
        return nom, etat, voies

    async def _kafka(self) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        debut = time.perf_counter()
        try:
            admin = await self._client_admin()
            cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
            detail = {"brokers": len(cluster.get("brokers", []))}
            return "kafka", {"ok": True, "detail": detail, "ms": round((time.perf_counter() - debut) * 1000, 1)}, []
        except Exception as exc:
            await self._fermer_kafka()
            return "kafka", {"ok": False, "detail": {"erreur": repr(exc)}, "ms": None}, []

    async def _store(self) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        debut = time.perf_counter()
        try:
            await asyncio.wait_for(self.rt.db.command("ping"), 3)
            return "store", {"ok": True, "detail": {}, "ms": round((time.perf_counter() - debut) * 1000, 1)}, []
        except Exception as exc:
            return "store", {"ok": False, "detail": {"erreur": repr(exc)}, "ms": None}, []

    async def _smtp(self) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        debut = time.perf_counter()
        smtp = aiosmtplib.SMTP(hostname=self.settings.smtp_host, port=self.settings.smtp_port, timeout=3, start_tls=False)
        try:
            await smtp.connect()
            await smtp.noop()
            with contextlib.suppress(aiosmtplib.SMTPException):
                await smtp.quit()
            return "smtp", {"ok": True, "detail": {}, "ms": round((time.perf_counter() - debut) * 1000, 1)}, []
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return "smtp", {"ok": False, "detail": {"erreur": repr(exc)}, "ms": None}, []

    async def _client_admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap_servers, client_id="grd-supervision-admin", request_timeout_ms=5000, **kafka_options()
            )
            await admin.start()
            self._admin = admin
        return self._admin

    async def _lags(self) -> list[LigneLag]:
        """Committed offsets of every group (admin API) against the partitions' end offsets."""
        admin = await self._client_admin()
        if self._offsets is None:
            offsets = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False, **kafka_options())
            await offsets.start()
            self._offsets = offsets
        groupes = sorted(str(g[0]) for g in await admin.list_consumer_groups())
        commis: dict[tuple[str, TopicPartition], int] = {}
        for groupe in groupes:
            for tp, meta in (await admin.list_consumer_group_offsets(groupe)).items():
                if meta is not None and meta.offset >= 0:
                    commis[(groupe, tp)] = meta.offset
        fins = await self._offsets.end_offsets(list({tp for _, tp in commis})) if commis else {}
        lignes: list[LigneLag] = []
        vus: dict[tuple[str, str, int], int] = {}
        for (groupe, tp), offset in commis.items():
            fin = fins.get(tp, offset)
            lag = max(0, fin - offset)
            cle = (groupe, tp.topic, tp.partition)
            vus[cle] = lag
            lignes.append(LigneLag(groupe, tp.topic, tp.partition, offset, fin, lag, lag - self._lags_precedents.get(cle, lag)))
            self.metrics.lag.labels(groupe, tp.topic, str(tp.partition)).set(lag)
        self._lags_precedents = vus
        lignes.sort(key=lambda ligne: (-ligne.lag, ligne.groupe, ligne.topic, ligne.partition))
        return lignes

    async def _fermer_kafka(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
        if offsets is not None:
            with contextlib.suppress(Exception):
                await offsets.stop()

    async def fermer(self) -> None:
        """Close the HTTP and Kafka clients (shutdown hook)."""
        http, self._http = self._http, None
        if http is not None:
            with contextlib.suppress(Exception):
                await http.aclose()
        await self._fermer_kafka()
