"""`grd envoyer` against the running platform, as LUMEN on its own topics: 500 demands from a file, one outcome each, as its outcomes topic says."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from contracts.topics import fournisseur_resultats
from demo_data.generator import generate_many
from devtools.processes import ROOT, Platform
from platform_kit.acl import password_for
from platform_kit.clock import aujourdhui_reel
from tests.support import bootstrap, read_topic

COUNT = 500
FOURNISSEUR = "LUMEN"


def profile(tmp_path: Path) -> Path:
    """LUMEN's profile on the test stack: its own SCRAM credential (made by the demo onboarding) and its own topics."""
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    valeurs = {"bootstrap_servers": bootstrap(), "fournisseur": FOURNISSEUR, "security_protocol": protocol}
    if protocol.upper() != "PLAINTEXT":
        valeurs |= {"sasl_mechanism": os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"), "password": password_for(FOURNISSEUR, create=False)}
    chemin = tmp_path / "profile.toml"
    chemin.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in valeurs.items()))
    return chemin


def demand_file(tmp_path: Path) -> Path:
    """500 demandes diverses on seeded PDS: accepted where LUMEN holds an access level, refused elsewhere."""
    lignes = []
    for p in generate_many(COUNT, start=2001):
        payload = {
            "pds": p.reference,
            "sous_type": "information",
            "observations": "Envoyée par grd.",
            "date_souhaitee": str(aujourdhui_reel() + timedelta(days=10)),
        }
        lignes.append(json.dumps({"type": "DemandeDiverse", "payload": payload}))
    chemin = tmp_path / "demandes.jsonl"
    chemin.write_text("\n".join(lignes) + "\n")
    return chemin


def table_rows(output: str) -> dict[str, tuple[int, str, str]]:
    """message_id -> (line, outcome, affaire or code) from the printed table."""
    rows: dict[str, tuple[int, str, str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 7 and cells[0].isdigit():
            rows[cells[1]] = (int(cells[0]), cells[4], cells[5])
    return rows


async def test_grd_envoyer_prints_one_outcome_per_demand_matching_the_outcomes_topic(platform: Platform, tmp_path: Path) -> None:
    fichier = demand_file(tmp_path)
    env = {**os.environ, "COLUMNS": "320", "GRD_CLIENT_PROFILE": ""}
    commande = [sys.executable, "-m", "grd_client.cli", "envoyer", str(fichier), "--profile", str(profile(tmp_path)), "--delai", "600"]
    # The command runs its own event loop and progress bar: a real process, as an integrator runs it.
    fini = await asyncio.to_thread(subprocess.run, commande, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert fini.returncode == 0, fini.stdout[-3000:] + fini.stderr[-3000:]

    rows = table_rows(fini.stdout)
    assert len(rows) == COUNT, fini.stdout[-3000:]
    assert sorted(line for line, _, _ in rows.values()) == list(range(1, COUNT + 1))
    published = {}
    for doc, _, _ in await read_topic(fournisseur_resultats(FOURNISSEUR).name, timeout=5):
        if doc and doc.get("payload", {}).get("demande_message_id") in rows:
            payload = doc["payload"]
            published[payload["demande_message_id"]] = (
                ("acceptée", payload["reference_affaire"]) if doc["type"] == "DemandeAcceptee" else ("refusée", payload["code"])
            )
    assert {mid: (statut, quoi) for mid, (_, statut, quoi) in rows.items()} == published
    statuts = {statut for statut, _ in published.values()}
    assert statuts == {"acceptée", "refusée"}, "the file mixes PDS where LUMEN holds a level and PDS where it holds none"
    assert f"{COUNT} demande(s) :" in fini.stdout
