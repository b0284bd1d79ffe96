"""`grd-ops`: the operations team's command line over the supervision service's API (lag, backlog, dead letters, health).

It talks to the supervision service only (GRD_OPS_URL), as an operator (GRD_OPS_USER / GRD_OPS_SECRET), so a redrive
from here goes through the same once-only state transition as the page's button.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

app = typer.Typer(help="Outils d'exploitation de la plateforme des demandes (via le service de supervision).", no_args_is_help=True)
lettres_app = typer.Typer(help="Lettres mortes : lister, voir, réémettre, écarter.", no_args_is_help=True)
app.add_typer(lettres_app, name="dead-letters")
console = Console()

Url = Annotated[str, typer.Option("--url", envvar="GRD_OPS_URL", help="Adresse du service de supervision.")]
Utilisateur = Annotated[str, typer.Option("--user", envvar="GRD_OPS_USER", help="Identifiant opérateur.")]
Secret = Annotated[str, typer.Option("--secret", envvar="GRD_OPS_SECRET", help="Secret de l'opérateur.", prompt=True, hide_input=True)]
URL_PAR_DEFAUT = "http://127.0.0.1:8006"


def _client(url: str, user: str, secret: str) -> httpx.Client:
    return httpx.Client(base_url=url.rstrip("/"), auth=(user, secret), timeout=15)


def _get(url: str, user: str, secret: str, path: str) -> Any:
    try:
        with _client(url, user, secret) as client:
            return _reponse(client.get(path))
    except httpx.HTTPError as exc:
        _injoignable(url, exc)


def _injoignable(url: str, exc: httpx.HTTPError) -> NoReturn:
    console.print(f"[red]Service de supervision injoignable ({url}) : {exc}[/red]")
    raise typer.Exit(2)


def _reponse(reponse: httpx.Response) -> Any:
    if reponse.status_code >= 400:
        try:
            detail = reponse.json().get("detail", reponse.text)
        except ValueError:
            detail = reponse.text
        console.print(f"[red]Erreur {reponse.status_code} : {detail}[/red]")
        raise typer.Exit(1)
    return reponse.json()


@app.command()
def lag(
    url: Url = URL_PAR_DEFAUT,
    user: Utilisateur = "GRD",
    secret: Secret = "",
    groupe: Annotated[str | None, typer.Option(help="Seulement les groupes qui commencent par ce préfixe.")] = None,
    tout: Annotated[bool, typer.Option("--all", help="Aussi les partitions sans retard.")] = False,
) -> None:
    """Retard des groupes de consommateurs par partition, et voies bloquées."""
    data = _get(url, user, secret, "/api/consommateurs")
    table = Table(title=f"Retard des groupes (sonde du {data['le']})")
    for col in ("Groupe", "Topic", "Partition", "Commis", "Fin", "Retard", "Δ"):
        table.add_column(col, justify="right" if col in ("Partition", "Commis", "Fin", "Retard", "Δ") else "left")
    for ligne in data["lags"]:
        if groupe and not ligne["groupe"].startswith(groupe):
            continue
        if not tout and ligne["lag"] == 0:
            continue
        style = "red" if ligne["variation"] > 0 else None
        table.add_row(
            ligne["groupe"],
            ligne["topic"],
            str(ligne["partition"]),
            str(ligne["commis"]),
            str(ligne["fin"]),
            str(ligne["lag"]),
            f"{ligne['variation']:+d}",
            style=style,
        )
    console.print(table)
    bloquees = [v for v in data["voies"] if v["bloquee"]]
    if bloquees:
        voies = Table(title="Voies bloquées")
        for col in ("Service", "Groupe", "Topic", "Partition", "Traités"):
            voies.add_column(col)
        for v in bloquees:
            voies.add_row(v["service"], v["groupe"], v["topic"], str(v["partition"]), str(v["traites"]), style="red")
        console.print(voies)
    else:
        console.print("Aucune voie bloquée.")
    for erreur in data["erreurs"]:
        console.print(f"[red]{erreur}[/red]")


@app.command()
def backlog(url: Url = URL_PAR_DEFAUT, user: Utilisateur = "GRD", secret: Secret = "") -> None:
    """Affaires ouvertes par type et état, et celles hors délai."""
    data = _get(url, user, secret, "/api/backlog")
    table = Table(title=f"Affaires ouvertes ({data['ouvertes']})")
    for col in ("Type", "État", "Nombre", "Plus ancienne"):
        table.add_column(col)
    for g in data["groupes"]:
        table.add_row(g["type_affaire"], g["etat"], str(g["nombre"]), g["plus_ancienne"])
    console.print(table)
    retards = Table(title=f"Hors délai ({len(data['en_retard'])})")
    for col in ("Affaire", "Type", "État", "Âge", "Pourquoi"):
        retards.add_column(col)
    for a in data["en_retard"]:
        retards.add_row(a["reference"], a["type_affaire"], a["etat"], a["age"], a["retard"], style="red")
    console.print(retards)


@app.command()
def health(url: Url = URL_PAR_DEFAUT, user: Utilisateur = "GRD", secret: Secret = "") -> None:
    """Santé des services, de Kafka, de la base et du SMTP (dernière sonde); code de sortie 1 si une partie est en panne."""
    data = _get(url, user, secret, "/api/sante")
    table = Table(title=f"Santé (sonde du {data['le']})")
    for col in ("Partie", "État", "Réponse", "Détail"):
        table.add_column(col)
    en_panne = False
    for nom, etat in data["parties"].items():
        en_panne |= not etat["ok"]
        ms = f"{etat['ms']} ms" if etat.get("ms") is not None else "—"
        erreur = str((etat.get("detail") or {}).get("erreur", ""))
        table.add_row(nom, "OK" if etat["ok"] else "EN PANNE", ms, erreur, style=None if etat["ok"] else "red")
    console.print(table)
    if en_panne:
        raise typer.Exit(1)


@lettres_app.command("list")
def lister(url: Url = URL_PAR_DEFAUT, user: Utilisateur = "GRD", secret: Secret = "") -> None:
    """Lettres mortes à traiter (origine, consommateur, erreur, tentatives)."""
    data = _get(url, user, secret, "/api/lettres-mortes")
    table = Table(title=f"Lettres mortes à traiter ({len(data['ouvertes'])})")
    for col in ("Id", "Reçue le", "Origine", "Clé", "Consommateur", "Erreur", "Tentatives", "État"):
        table.add_column(col, overflow="fold")
    for lettre in data["ouvertes"]:
        tentatives = lettre.get("tentatives")
        table.add_row(
            lettre["id"],
            str(lettre.get("le") or "—"),
            str(lettre.get("origine") or "—"),
            lettre.get("cle") or "—",
            str(lettre.get("consommateur") or "—"),
            str(lettre.get("erreur") or "")[:120],
            "—" if tentatives is None else str(tentatives),
            str(lettre.get("etat") or "—"),
        )
    console.print(table)


@lettres_app.command("show")
def voir(lettre_id: str, url: Url = URL_PAR_DEFAUT, user: Utilisateur = "GRD", secret: Secret = "") -> None:
    """Une lettre morte : en-têtes, historique et contenu du message."""
    data = _get(url, user, secret, f"/api/lettres-mortes/{lettre_id}")
    for champ in ("id", "origine", "consommateur", "erreur", "tentatives", "le", "cle", "etat"):
        console.print(f"[bold]{champ}[/bold] : {data.get(champ)}")
    for h in data.get("historique", []):
        console.print(f"  {h['le']} {h['action']} par {h['par']} ({h['de']} → {h['vers']})")
    contenu = data["contenu"]
    try:
        json.loads(contenu)
        console.print(Syntax(contenu, "json", word_wrap=True))
    except ValueError:
        console.print(contenu, markup=False)


def _agir(url: str, user: str, secret: str, lettre_id: str, action: str) -> None:
    try:
        with _client(url, user, secret) as client:
            data = _reponse(client.post(f"/api/lettres-mortes/{lettre_id}/{action}", headers={"X-GRD-Action": action}))
    except httpx.HTTPError as exc:
        _injoignable(url, exc)
    console.print(f"Lettre morte {data['id']} : {data['etat']} (par {data.get('par')})")


@lettres_app.command("redrive")
def reemettre(lettre_id: str, url: Url = URL_PAR_DEFAUT, user: Utilisateur = "GRD", secret: Secret = "") -> None:
    """Réémettre une lettre morte vers son topic d'origine (une seule fois, tracé)."""
    _agir(url, user, secret, lettre_id, "reemettre")


@lettres_app.command("discard")
def ecarter(lettre_id: str, url: Url = URL_PAR_DEFAUT, user: Utilisateur = "GRD", secret: Secret = "") -> None:
    """Écarter une lettre morte (tracé : qui, quand)."""
    _agir(url, user, secret, lettre_id, "ecarter")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
