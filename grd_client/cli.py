"""`grd`: validate a demand file offline, send it and wait for the outcomes, follow one's outcomes and flux live."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grd_client.client import Resultat, envoyer, suivre
from grd_client.fichier import Ligne, lire_fichier
from grd_client.profil import Profil, charger_profil

app = typer.Typer(help="Client des intégrateurs de la plateforme des demandes fournisseurs du GRD.", no_args_is_help=True)
console = Console()

Fichier = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Demandes : JSON lines (.jsonl) ou CSV (.csv).")]
OptionProfil = Annotated[Path | None, typer.Option("--profile", help="Profil TOML (défaut : ~/.config/grd/profile.toml ; GRD_CLIENT_* l'emportent).")]


def _profil(chemin: Path | None) -> Profil:
    try:
        return charger_profil(chemin)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]Profil invalide[/red] : {exc}")
        raise typer.Exit(2) from exc


def _rapport_validation(lignes: list[Ligne]) -> int:
    invalides = 0
    for ligne in lignes:
        if ligne.erreurs:
            invalides += 1
            console.print(f"ligne {ligne.numero} : [red]ERREUR[/red] {ligne.type or ''}".rstrip())
            for erreur in ligne.erreurs:
                console.print(f"    {erreur}", markup=False, highlight=False)
        else:
            console.print(f"ligne {ligne.numero} : [green]OK[/green] {ligne.type}")
    console.print(f"{len(lignes) - invalides} demande(s) valide(s), {invalides} en erreur.")
    return invalides


@app.command()
def valider(fichier: Fichier) -> None:
    """Vérifie hors ligne chaque demande du fichier contre les contrats : OK, ou les erreurs de validation."""
    if _rapport_validation(lire_fichier(fichier)):
        raise typer.Exit(1)


def _tableau(resultats: list[Resultat]) -> Table:
    table = Table(title="Résultats des demandes")
    for colonne in ("Ligne", "Demande", "Type", "PDS", "Résultat", "Affaire / code"):
        table.add_column(colonne, no_wrap=True)  # identifiers stay whole: the message gives way first
    table.add_column("Message", overflow="fold", max_width=100)
    libelles = {"acceptee": "[green]acceptée[/green]", "refusee": "[yellow]refusée[/yellow]", "sans_reponse": "[red]sans réponse[/red]"}
    for r in sorted(resultats, key=lambda r: r.ligne):
        quoi = r.reference_affaire if r.statut == "acceptee" else r.code
        table.add_row(str(r.ligne), r.message_id, r.type, r.pds or "", libelles[r.statut], quoi or "", r.message or "")
    return table


@app.command("envoyer")
def envoyer_commande(
    fichier: Fichier,
    profil: OptionProfil = None,
    delai: Annotated[float, typer.Option(help="Secondes d'attente des résultats après le dernier envoi.")] = 300.0,
    sortie: Annotated[Path | None, typer.Option(help="Écrit aussi les résultats en JSON lines dans ce fichier.")] = None,
) -> None:
    """Valide puis envoie les demandes, attend leurs résultats (barre de progression) et les affiche dans un tableau."""
    lignes = lire_fichier(fichier)
    if any(ligne.erreurs for ligne in lignes):
        _rapport_validation(lignes)
        console.print("[red]Rien n'a été envoyé[/red] : corrigez d'abord les lignes en erreur (grd valider).")
        raise typer.Exit(1)
    configuration = _profil(profil)
    colonnes = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*colonnes, console=console, transient=False) as progression:
        envoi = progression.add_task("Envoi", total=len(lignes))
        reponses = progression.add_task("Résultats", total=len(lignes))
        resultats = asyncio.run(
            envoyer(
                configuration,
                lignes,
                delai_s=delai,
                a_l_envoi=lambda _: progression.advance(envoi),
                au_resultat=lambda _: progression.advance(reponses),
            )
        )
    console.print(_tableau(resultats))
    acceptees = sum(r.statut == "acceptee" for r in resultats)
    refusees = sum(r.statut == "refusee" for r in resultats)
    manquants = len(resultats) - acceptees - refusees
    console.print(f"{len(resultats)} demande(s) : {acceptees} acceptée(s), {refusees} refusée(s), {manquants} sans réponse.")
    if sortie is not None:
        with sortie.open("w", encoding="utf-8") as out:
            for r in resultats:
                out.write(json.dumps(r.__dict__, ensure_ascii=False) + "\n")
    if manquants:
        raise typer.Exit(3)


@app.command("suivre")
def suivre_commande(
    profil: OptionProfil = None,
    depuis_le_debut: Annotated[bool, typer.Option("--depuis-le-debut", help="Relit aussi ce qui est déjà publié.")] = False,
    nombre: Annotated[int, typer.Option("--nombre", help="S'arrête après ce nombre de messages (0 : jamais).")] = 0,
) -> None:
    """Affiche en direct vos résultats de demandes et vos flux (Ctrl-C pour arrêter)."""
    configuration = _profil(profil)

    async def boucle() -> None:
        vus = 0
        async for topic, env in suivre(configuration, depuis_le_debut=depuis_le_debut):
            payload = env.get("payload") or {}
            quoi = payload.get("reference_affaire") or payload.get("code") or ""
            heure = str(env.get("occurred_at", ""))[:19] or datetime.now().isoformat(timespec="seconds")
            console.print(f"{heure}  {topic}  [bold]{env.get('type')}[/bold]  {env.get('key')}  {quoi}  {payload.get('message', '')}".rstrip())
            vus += 1
            if nombre and vus >= nombre:
                return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(boucle())


if __name__ == "__main__":
    app()
