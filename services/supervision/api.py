"""The operators' page (server-rendered, refreshing itself) and the JSON API the page and `grd-ops` share."""

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, Header, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from platform_kit.audit import AuditJournal
from platform_kit.auth import OPERATEUR, Principal
from platform_kit.kafka_client import kafka_options
from platform_kit.runtime import Runtime
from services.supervision.domain import A_TRAITER, Delais, TransitionRefusee, duree, lire_origine, resumer_backlog, resumer_flux
from services.supervision.metrics import SupervisionMetrics
from services.supervision.probes import Sondes
from services.supervision.settings import Settings
from services.supervision.store import SupervisionStore, depuis

log = logging.getLogger(__name__)
ICI = Path(__file__).parent
ENTETE_ACTION = "X-GRD-Action"


class Reemetteur:
    """Publishes a dead letter's original bytes and key back to its origin topic, once, behind a state transition."""

    def __init__(self, rt: Runtime, store: SupervisionStore) -> None:
        self.rt = rt
        self.store = store
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        rt.shutdown_hooks.append(self.fermer)

    async def _demarrer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.rt.settings.kafka_bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    client_id="grd-supervision-redrive",
                    **kafka_options(),
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def reemettre(self, lettre_id: str, par: str) -> dict[str, Any]:
        """Redrive: a_traiter → reemission (the guard: only one caller gets past it), publish, then reemise.

        A failed publish puts the letter back to a_traiter (traced), so it can be tried again.
        """
        await self.store.passer(lettre_id, "reemettre", par)
        lettre = await self.store.lettre(lettre_id)
        assert lettre is not None
        topic, _, _ = lire_origine(str(lettre["origine"]))
        try:
            producer = await self._demarrer()
            await producer.send_and_wait(
                topic,
                bytes(lettre["contenu"]),
                key=bytes(lettre["cle"]) if lettre.get("cle") is not None else None,
                headers=[("x-redriven-from", f"{lettre_id}".encode()), ("x-redriven-by", par.encode())],
            )
        except Exception:
            log.exception("redrive of %s failed", lettre_id)
            await self.store.passer(lettre_id, "annuler_reemission", par)
            raise
        return await self.store.passer(lettre_id, "confirmer", par)

    async def fermer(self) -> None:
        """Stop the producer (shutdown hook)."""
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()


class Vues:
    """Builds what the page and the API show, from the read models and the last probe round."""

    def __init__(
        self,
        settings: Settings,
        store: SupervisionStore,
        sondes: Sondes,
        metrics: SupervisionMetrics,
        dernieres: Iterable[dict[str, Any]],
        horloge: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.horloge = horloge
        self.dernieres = dernieres
        self.store = store
        self.sondes = sondes
        self.metrics = metrics
        self.delais = Delais(settings.delai_cf_jours, settings.delai_intervention_heures, settings.delai_etude_jours, settings.delai_affaire_jours)

    async def flux(self) -> dict[str, Any]:
        """Demands received / accepted / refused per minute and by type, top refusal codes, latency percentiles."""
        # Wall-clock time, not the platform clock: the counts are keyed by envelopes' `occurred_at` and Kafka
        # timestamps, which a demo's clock control does not move.
        maintenant = datetime.now(UTC)
        fenetre = self.settings.fenetre_minutes
        resume = resumer_flux(await self.store.buckets(depuis(maintenant, fenetre)), maintenant, fenetre)
        return {
            "fenetre_minutes": fenetre,
            "minutes": [asdict(m) for m in resume.minutes],
            "par_type": resume.par_type,
            "codes": [{"code": c, "nombre": n} for c, n in resume.codes],
            "latence_s": resume.latence,
            "latences_mesurees": resume.mesures,
            "dernieres": list(self.dernieres),
        }

    async def backlog(self) -> dict[str, Any]:
        """Open affaires by type and state with the oldest's age, and those past their deadline (by the platform clock)."""
        # The platform clock: a demo or test that moves it forward sees affaires age and fall late, as they would.
        maintenant = self.horloge()
        resume = resumer_backlog(await self.store.affaires_ouvertes(), maintenant, self.delais)
        par_type: dict[str, int] = {}
        retards: dict[str, int] = {}
        for g in resume.groupes:
            par_type[g.type_affaire] = par_type.get(g.type_affaire, 0) + g.nombre
        for a in resume.en_retard:
            retards[a["type_affaire"]] = retards.get(a["type_affaire"], 0) + 1
        for type_, n in par_type.items():
            self.metrics.ouvertes.labels(type_).set(n)
            self.metrics.retards.labels(type_).set(retards.get(type_, 0))
        return {
            "ouvertes": resume.ouvertes,
            "groupes": [
                {"type_affaire": g.type_affaire, "etat": g.etat, "nombre": g.nombre, "plus_ancienne": duree(g.plus_ancienne)} for g in resume.groupes
            ],
            "en_retard": [
                {
                    "reference": a["_id"],
                    "type_affaire": a["type_affaire"],
                    "etat": a["etat"],
                    "pds": a.get("pds"),
                    "fournisseur": a.get("fournisseur"),
                    "age": duree(a["age"]),
                    "retard": a["retard"],
                }
                for a in resume.en_retard
            ],
        }

    def consommateurs(self) -> dict[str, Any]:
        """Lag per group and partition, lanes (stalled first), instances alive, from the last probe round."""
        inst = self.sondes.dernier
        return {
            "le": inst.le.isoformat() if inst.le else None,
            "lags": [asdict(ligne) for ligne in inst.lags],
            "voies": inst.voies,
            "voies_bloquees": sum(1 for v in inst.voies if v["bloquee"]),
            "erreurs": inst.erreurs,
        }

    def sante(self) -> dict[str, Any]:
        """Health of each service, Kafka, the store and SMTP, from the last probe round."""
        inst = self.sondes.dernier
        return {"le": inst.le.isoformat() if inst.le else None, "parties": inst.sante}

    async def lettres(self) -> dict[str, Any]:
        """Dead letters still to deal with, and how many are in each state."""
        ouvertes = [_lettre_json(doc, contenu=False) for doc in await self.store.lettres_ouvertes()]
        comptes = await self.store.compter_lettres()
        self.metrics.lettres.set(comptes.get(A_TRAITER, 0))
        return {"ouvertes": ouvertes, "par_etat": comptes}


def _contenu(raw: bytes) -> str:
    """The record's bytes as text: indented JSON when it is JSON, else the decoded text."""
    texte = raw.decode(errors="replace")
    try:
        return json.dumps(json.loads(texte), ensure_ascii=False, indent=2)
    except ValueError:
        return texte


def _lettre_json(doc: dict[str, Any], *, contenu: bool) -> dict[str, Any]:
    # Every field the page and grd-ops show is present, even for a letter whose headers lacked one (null values may
    # not survive the store round trip).
    out: dict[str, Any] = {"origine": None, "consommateur": None, "erreur": "", "tentatives": None, "le": None, "etat": None}
    out.update({k: v for k, v in doc.items() if k not in ("_id", "contenu", "cle")})
    out["id"] = doc["_id"]
    out["cle"] = bytes(doc["cle"]).decode(errors="replace") if doc.get("cle") is not None else None
    out["historique"] = [{**h, "le": h["le"].isoformat() if isinstance(h.get("le"), datetime) else h.get("le")} for h in doc.get("historique", [])]
    if isinstance(out.get("le_traitement"), datetime):
        out["le_traitement"] = out["le_traitement"].isoformat()
    if contenu:
        raw = bytes(doc.get("contenu", b""))
        out["contenu"] = _contenu(raw)
        out["contenu_base64"] = base64.b64encode(raw).decode()
    return out


def routes(
    rt: Runtime,
    settings: Settings,
    store: SupervisionStore,
    sondes: Sondes,
    metrics: SupervisionMetrics,
    dernieres: Iterable[dict[str, Any]],
    journal: AuditJournal | None = None,
) -> APIRouter:
    """The page, its fragments and the JSON API; every route needs an operator.

    With a journal, reading a dead letter's content (a supplier's demand) and acting on it are audited; the aggregated
    views (flux, backlog, consumers, health), which the page refreshes every few seconds, are not.
    """
    router = APIRouter(tags=["supervision"])
    vues = Vues(settings, store, sondes, metrics, dernieres, rt.now)
    reemetteur = Reemetteur(rt, store)
    templates = Environment(loader=FileSystemLoader(ICI / "templates"), autoescape=select_autoescape(["html"]))

    async def operateur(principal: Annotated[Principal, Depends(rt.auth)]) -> Principal:
        if principal.role != OPERATEUR:
            if journal is not None:
                await journal.consultation(principal, "supervision", "refusee:RESERVE_OPERATEUR")
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Réservé aux opérateurs du GRD.")
        return principal

    Operateur = Annotated[Principal, Depends(operateur)]

    async def tracer(op: Principal, action: str, resultat: str, lettre_id: str) -> None:
        if journal is not None:
            await journal.consultation(op, action, resultat, detail={"lettre_id": lettre_id})

    async def lire_lettre(lettre_id: str, op: Principal) -> dict[str, Any]:
        doc = await store.lettre(lettre_id)
        await tracer(op, "lettre_morte", "servie" if doc is not None else "refusee:INTROUVABLE", lettre_id)
        if doc is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Lettre morte {lettre_id} introuvable.")
        return doc

    def action_volontaire(x_grd_action: Annotated[str | None, Header()] = None) -> None:
        # A custom header cannot be sent cross-site without a CORS preflight we never grant: no forged form can act.
        if not x_grd_action:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"En-tête {ENTETE_ACTION} requis pour agir.")

    async def tout() -> dict[str, Any]:
        flux, backlog, lettres = await asyncio.gather(vues.flux(), vues.backlog(), vues.lettres())
        return {"flux": flux, "backlog": backlog, "lettres": lettres, "consommateurs": vues.consommateurs(), "sante": vues.sante()}

    @router.get("/", response_class=HTMLResponse, summary="Page de supervision")
    async def page(_op: Operateur) -> HTMLResponse:
        html = templates.get_template("page.html").render(**await tout(), rafraichissement_s=settings.rafraichissement_s)
        return HTMLResponse(html)

    @router.get("/fragment", response_class=HTMLResponse, summary="Contenu de la page (rafraîchissement)")
    async def fragment(_op: Operateur) -> HTMLResponse:
        return HTMLResponse(templates.get_template("fragment.html").render(**await tout()))

    @router.get("/lettres-mortes/{lettre_id}", response_class=HTMLResponse, summary="Une lettre morte et son contenu")
    async def page_lettre(lettre_id: str, _op: Operateur) -> HTMLResponse:
        doc = await lire_lettre(lettre_id, _op)
        return HTMLResponse(templates.get_template("lettre.html").render(lettre=_lettre_json(doc, contenu=True)))

    @router.get("/static/supervision.js", include_in_schema=False)
    async def script() -> FileResponse:
        return FileResponse(ICI / "static" / "supervision.js", media_type="text/javascript")

    @router.get("/api/flux", summary="Flux des demandes par minute et par type")
    async def api_flux(_op: Operateur) -> dict[str, Any]:
        return await vues.flux()

    @router.get("/api/backlog", summary="Affaires ouvertes par type et état, affaires en retard")
    async def api_backlog(_op: Operateur) -> dict[str, Any]:
        return await vues.backlog()

    @router.get("/api/consommateurs", summary="Retard des groupes, voies bloquées")
    async def api_consommateurs(_op: Operateur) -> dict[str, Any]:
        return vues.consommateurs()

    @router.get("/api/sante", summary="Santé des services, de Kafka, de la base et du SMTP")
    async def api_sante(_op: Operateur) -> dict[str, Any]:
        return vues.sante()

    @router.get("/api/lettres-mortes", summary="Lettres mortes à traiter")
    async def api_lettres(_op: Operateur) -> dict[str, Any]:
        return await vues.lettres()

    @router.get("/api/lettres-mortes/{lettre_id}", summary="Une lettre morte avec son contenu")
    async def api_lettre(lettre_id: str, _op: Operateur) -> dict[str, Any]:
        doc = await lire_lettre(lettre_id, _op)
        return _lettre_json(doc, contenu=True)

    async def agir(lettre_id: str, action: str, op: Principal) -> dict[str, Any]:
        try:
            if action == "reemettre":
                doc = await reemetteur.reemettre(lettre_id, op.code)
            else:
                doc = await store.passer(lettre_id, action, op.code)
        except KeyError:
            await tracer(op, f"lettre_morte:{action}", "refusee:INTROUVABLE", lettre_id)
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Lettre morte {lettre_id} introuvable.") from None
        except TransitionRefusee as exc:
            await tracer(op, f"lettre_morte:{action}", "refusee:TRANSITION", lettre_id)
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        await tracer(op, f"lettre_morte:{action}", "servie", lettre_id)
        return _lettre_json(doc, contenu=False)

    @router.post("/api/lettres-mortes/{lettre_id}/reemettre", summary="Réémettre une lettre morte vers son topic d'origine (une fois)")
    async def reemettre(lettre_id: str, op: Operateur, _a: Annotated[None, Depends(action_volontaire)]) -> dict[str, Any]:
        return await agir(lettre_id, "reemettre", op)

    @router.post("/api/lettres-mortes/{lettre_id}/ecarter", summary="Écarter une lettre morte (tracé)")
    async def ecarter(lettre_id: str, op: Operateur, _a: Annotated[None, Depends(action_volontaire)]) -> dict[str, Any]:
        return await agir(lettre_id, "ecarter", op)

    return router
