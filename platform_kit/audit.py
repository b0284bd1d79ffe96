"""The tamper-evident audit journal every service writes: who consulted or asked what, on which PDS, when, from where.

Entries of one service form a hash chain in its `journal_audit` collection: entry `n` has `seq = n` (and `_id`, `n`
zero-padded to 12 digits: FerretDB uses its `_id` index for string ids only, and the order stays the numeric one) and
carries the SHA-256 `empreinte` of its canonical JSON, which includes `precedent`, the empreinte of entry `n - 1`.
Appends are serialised per process by a lock, and the chain head is claimed by inserting `_id = n` (the unique `_id`
index makes two instances of a service race safely: the loser moves its head forward and retries). An altered entry no longer
matches its empreinte, a deleted one leaves a gap: `python -m platform_kit.audit verify --service NAME` reports the
first of either; `export` writes a period as JSON lines or CSV.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from platform_kit.auth import Authenticator, Principal

if TYPE_CHECKING:
    from platform_kit.runtime import Runtime

COLLECTION = "journal_audit"
GENESIS = "0" * 64
#: The fields of an entry, in the order the export writes them.
FIELDS = (
    "seq", "service", "horodatage", "acteur", "role", "action", "pds", "niveau_detenu", "resultat", "adresse_client",
    "detail", "cle", "precedent", "empreinte",
)  # fmt: skip

Doc = dict[str, Any]


def cle_seq(seq: int) -> str:
    """The `_id` of entry `seq`."""
    return f"{seq:012d}"


def now_ms() -> datetime:
    """The audit clock: UTC, truncated to the millisecond the store keeps (so that a stored entry hashes the same)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _instant(value: datetime) -> str:
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _jsonable(value: Any) -> Any:
    return _instant(value) if isinstance(value, datetime) else str(value)


def canonical(doc: Doc) -> str:
    """The canonical JSON of an entry (every field but its own empreinte; sorted keys, instants to the millisecond)."""
    fields = {k: v for k, v in doc.items() if k != "empreinte"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def empreinte(doc: Doc) -> str:
    """The SHA-256 of an entry's canonical JSON (which includes the previous entry's empreinte)."""
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


class AuditJournal:
    """Appends hash-chained entries to one service's journal; safe under concurrent requests and several instances."""

    def __init__(self, collection: AsyncCollection[Doc], service: str) -> None:
        self.collection = collection
        self.service = service
        self._lock = asyncio.Lock()
        self._head: tuple[int, str] | None = None

    async def start(self) -> None:
        """Create the unique index of idempotency keys and find the chain head."""
        await self.collection.create_index([("cle", ASCENDING)], unique=True, name="cle_unique")
        async with self._lock:
            self._head = await self._find_head()

    async def _exists(self, seq: int) -> bool:
        return await self.collection.find_one({"_id": cle_seq(seq)}, {"_id": 1}) is not None

    async def _find_head(self, known: int = 0) -> tuple[int, str]:
        """The last entry: gallop then bisect over `_id` lookups (the chain has no gaps; a lookup by `_id` uses its index)."""
        lo, step = known, 1
        while await self._exists(lo + step):
            lo, step = lo + step, step * 2
        hi = lo + step  # lo exists (or is 0), hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if await self._exists(mid) else (lo, mid)
        if lo == 0:
            return 0, GENESIS
        doc = await self.collection.find_one({"_id": cle_seq(lo)}, {"empreinte": 1})
        return lo, str((doc or {}).get("empreinte", ""))

    async def record(
        self,
        *,
        acteur: str | None,
        role: str | None,
        action: str,
        resultat: str,
        pds: str | None = None,
        niveau_detenu: str | None = None,
        adresse_client: str | None = None,
        detail: Any = None,
        cle: str | None = None,
    ) -> int:
        """Append one entry and return its sequence number; with `cle`, an entry already recorded is not recorded again."""
        fields: Doc = {
            "service": self.service,
            "horodatage": now_ms(),
            "acteur": acteur,
            "role": role,
            "action": action,
            "pds": pds,
            "niveau_detenu": niveau_detenu,
            "resultat": resultat,
            "adresse_client": adresse_client,
            # Stored as it will be read back (tuples become lists...), so that the empreinte survives the round trip.
            "detail": json.loads(json.dumps(detail, default=_jsonable)),
            "cle": cle or uuid.uuid4().hex,
        }
        async with self._lock:
            if self._head is None:
                self._head = await self._find_head()
            for _ in range(10_000):
                seq, previous = self._head[0] + 1, self._head[1]
                doc = {"_id": cle_seq(seq), "seq": seq, **fields, "precedent": previous}
                doc["empreinte"] = empreinte(doc)
                try:
                    await self.collection.insert_one(doc)
                except DuplicateKeyError:
                    there = await self.collection.find_one({"_id": cle_seq(seq)})
                    if there is None:
                        return -1  # the key is taken: this entry was recorded before (a redelivered message)
                    if there.get("cle") == fields["cle"]:
                        self._head = (seq, str(there["empreinte"]))
                        return seq  # our own insert, acknowledged late
                    self._head = await self._find_head(seq)  # another instance appended: move past its entries
                    continue
                self._head = (seq, doc["empreinte"])
                return seq
        raise RuntimeError(f"audit journal of {self.service}: could not claim a sequence number")

    async def consultation(
        self, principal: Principal, action: str, resultat: str, *, pds: str | None = None, niveau: str | None = None, detail: Any = None
    ) -> None:
        """Record an HTTP consultation by an authenticated caller."""
        await self.record(
            acteur=principal.code,
            role=principal.role,
            action=action,
            resultat=resultat,
            pds=pds,
            niveau_detenu=niveau,
            adresse_client=principal.adresse,
            detail=detail,
        )

    async def authentication_failed(self, code: str | None, adresse: str | None, reason: str, details: dict[str, object]) -> None:
        """Record a failed HTTP authentication (the Authenticator's failure sink)."""
        await self.record(acteur=code, role=None, action="authentification", resultat=f"refusee:{reason}", adresse_client=adresse, detail=details)

    async def entries(self, pds: str | None = None, acteur: str | None = None, limite: int = 200) -> list[Doc]:
        """Entries, newest first, filtered by PDS and/or actor."""
        filtre: Doc = {}
        if pds:
            filtre["pds"] = pds
        if acteur:
            filtre["acteur"] = acteur
        curseur = self.collection.find(filtre).sort("_id", DESCENDING).limit(limite)
        return [_public(doc) async for doc in curseur]


def _public(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k != "_id"}


def install(rt: Runtime) -> AuditJournal:
    """The service's audit journal, with the runtime's HTTP authentication rebuilt from the settings to record its failures.

    Call it in the composition root before building the routers (they take `rt.auth`).
    """
    journal = AuditJournal(rt.db[COLLECTION], rt.settings.service_name)
    rt.startup_hooks.append(journal.start)
    rt.auth = Authenticator.from_settings(rt.settings, on_failure=journal.authentication_failed)
    return journal


@dataclass(frozen=True)
class Verification:
    """What `verify` found: entries checked, the head, and the first problem (None when the chain is intact)."""

    checked: int
    head_seq: int
    head_empreinte: str
    problem_seq: int | None
    problem: str | None


async def verify(collection: AsyncCollection[Doc]) -> Verification:
    """Walk the chain from entry 1: the first entry altered (empreinte or link) or missing (gap in the sequence)."""
    expected, previous, checked = 1, GENESIS, 0
    async for doc in collection.find({}).sort("_id", ASCENDING).batch_size(1000):
        seq = doc.get("seq")
        if not isinstance(seq, int) or doc.get("_id") != cle_seq(seq):
            return Verification(checked, expected - 1, previous, expected, f"entrée {doc.get('_id')!r} : numéro de séquence altéré")
        if seq != expected:
            return Verification(checked, expected - 1, previous, expected, f"entrée {expected} manquante (la suivante est {seq})")
        if doc.get("precedent") != previous:
            return Verification(checked, seq - 1, previous, seq, f"entrée {seq} : lien rompu (precedent ≠ empreinte de l'entrée {seq - 1})")
        if empreinte(doc) != doc.get("empreinte"):
            return Verification(checked, seq - 1, previous, seq, f"entrée {seq} modifiée (empreinte recalculée différente)")
        previous, expected, checked = str(doc["empreinte"]), expected + 1, checked + 1
    return Verification(checked, expected - 1, previous, None, None)


async def export(collection: AsyncCollection[Doc], start: datetime | None, end: datetime | None) -> AsyncIterator[Doc]:
    """The entries of a period [start, end), in chain order."""
    periode: Doc = {}
    if start:
        periode["$gte"] = start
    if end:
        periode["$lt"] = end
    async for doc in collection.find({"horodatage": periode} if periode else {}).sort("_id", ASCENDING).batch_size(1000):
        yield _public(doc)


def write_jsonl(entries: Iterable[Doc], out: TextIO) -> None:
    """One JSON object per line."""
    for entry in entries:
        out.write(json.dumps(entry, ensure_ascii=False, default=_jsonable, sort_keys=True) + "\n")


def write_csv(entries: Iterable[Doc], out: TextIO) -> None:
    """CSV with a header; `detail` as JSON."""
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    for entry in entries:
        row = {k: _instant(v) if isinstance(v, datetime) else v for k, v in entry.items()}
        row["detail"] = json.dumps(entry.get("detail"), ensure_ascii=False, default=_jsonable)
        writer.writerow(row)


cli = typer.Typer(help="The services' tamper-evident audit journals: verify the chain, export a period.", no_args_is_help=True)
Service = Annotated[str, typer.Option("--service", help="Service name (referentiel, contrats, affaires, planification, notifications).")]
Base = Annotated[str, typer.Option("--database", help="Database of the service (default grd_<service>).")]
Url = Annotated[str, typer.Option("--mongodb-url", envvar="MONGODB_URL", help="Store URL.")]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


async def _with_collection(url: str, database: str, job: Any) -> Any:
    from platform_kit.store import make_client

    client = make_client(url)
    try:
        return await job(client[database][COLLECTION])
    finally:
        await client.close()


@cli.command("verify")
def verify_command(service: Service, database: Base = "", mongodb_url: Url = "mongodb://127.0.0.1:27017/") -> None:
    """Check the chain of a service's journal; exit 1 at the first entry altered or missing."""
    from rich.console import Console

    console = Console()
    with console.status(f"Vérification du journal d'audit de {service}…"):
        result: Verification = asyncio.run(_with_collection(mongodb_url, database or f"grd_{service}", verify))
    if result.problem is None:
        console.print(f"[green]Chaîne intacte[/green] : {result.checked} entrées. Tête : n° {result.head_seq}, empreinte {result.head_empreinte}")
        console.print("Notez la tête ailleurs : seule une tête connue révèle la suppression des dernières entrées.")
        return
    console.print(f"[red]Chaîne rompue[/red] à l'entrée n° {result.problem_seq} : {result.problem}")
    console.print(f"{result.checked} entrées vérifiées avant elle.")
    raise typer.Exit(1)


@cli.command("export")
def export_command(
    service: Service,
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO date or instant, UTC by default), included.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO date or instant), excluded; a bare date means its end of day.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[typer.FileTextWrite | None, typer.Option("--output", "-o", help="File (stdout by default).")] = None,
    database: Base = "",
    mongodb_url: Url = "mongodb://127.0.0.1:27017/",
) -> None:
    """Export the entries of a period, in chain order."""
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("--format must be jsonl or csv")
    debut, fin = _date(start), _date(end)
    if fin is not None and end is not None and len(end) == 10:
        fin += timedelta(days=1)

    async def collect(collection: AsyncCollection[Doc]) -> list[Doc]:
        return [entry async for entry in export(collection, debut, fin)]

    entries: list[Doc] = asyncio.run(_with_collection(mongodb_url, database or f"grd_{service}", collect))
    out: TextIO = output if output is not None else sys.stdout
    (write_csv if fmt == "csv" else write_jsonl)(entries, out)
    print(f"{len(entries)} entrées exportées.", file=sys.stderr)


if __name__ == "__main__":
    cli()
