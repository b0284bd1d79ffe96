"""Onboard, suspend or remove a supplier on the bus: `python -m platform_kit.onboarding add|suspend|remove|demo|list`.

`add CODE` (idempotent) makes the supplier's Kafka principal and SCRAM credential, its four topics
(`grd.fournisseurs.<CODE>.demandes|resultats|affaires|flux.v1`) and the ACLs letting it write its inbound topic
and read its outbound ones (and letting the passerelle do the reverse); it prints the Kafka password and, with
`--http`, a new HTTP secret and the `CODE=fournisseur:hash` item to add to GRD_API_ACCOUNTS. `suspend CODE` takes
the ACLs and the credential away (topics and their data stay; `add` restores access with the same password);
`remove CODE` also deletes the topics and forgets the password. `demo` onboards every supplier of the GRD's reference data (platform_kit.reference).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contracts import topics as t
from platform_kit.acl import Cluster, forget_password, fournisseur_acls, groupe_prefixe_fournisseur, password_for
from platform_kit.auth import FOURNISSEUR, hash_secret
from platform_kit.reference import reference
from platform_kit.topics import create_topics, delete_topics

console = Console()


def _bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def valider_code(code: str) -> str:
    """The code when it can name a principal and topics; else a clear error."""
    if not re.fullmatch(t.CODE_FOURNISSEUR_MOTIF, code):
        raise typer.BadParameter(f"code fournisseur {code!r} invalide : majuscules, chiffres et _ (2 à 32 caractères, une lettre d'abord)")
    return code


def add(code: str, cluster: Cluster | None = None) -> str:
    """Onboard a supplier (idempotent); return its Kafka password."""
    valider_code(code)
    cluster = cluster or Cluster()
    asyncio.run(create_topics(_bootstrap(), t.topics_fournisseur(code)))
    password = password_for(code)
    cluster.upsert_user(code, password)
    cluster.create(fournisseur_acls(code))
    return password


def suspend(code: str, cluster: Cluster | None = None) -> None:
    """Take a supplier's access away: its ACLs (and the passerelle's for it) and its credential; topics stay."""
    valider_code(code)
    cluster = cluster or Cluster()
    wanted = fournisseur_acls(code)
    cluster.delete(wanted & cluster.acls())
    cluster.delete_user(code)


def remove(code: str, cluster: Cluster | None = None) -> list[str]:
    """Suspend a supplier, delete its topics and forget its password; return the topics deleted."""
    suspend(code, cluster)
    deleted = asyncio.run(delete_topics(_bootstrap(), [topic.name for topic in t.topics_fournisseur(code)]))
    forget_password(code)
    return deleted


app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@app.command("add")
def add_command(
    code: Annotated[str, typer.Argument(help="Supplier code (e.g. VOLTA).")],
    http: Annotated[bool, typer.Option(help="Also make an HTTP secret and print its GRD_API_ACCOUNTS item.")] = False,
) -> None:
    """Onboard a supplier: principal, credential, topics, ACLs (idempotent)."""
    password = add(code)
    console.print(f"[green]fournisseur {code} raccordé[/green]: dépose ses demandes sur {t.fournisseur_demandes(code).name}")
    console.print(f"  Kafka : SASL SCRAM-SHA-512, utilisateur {code}, mot de passe {password}")
    console.print(f"  lit   : {', '.join(x.name for x in t.topics_sortants(code))} ; groupes {groupe_prefixe_fournisseur(code)}*")
    if http:
        secret = secrets.token_urlsafe(24)
        console.print(f"  HTTP  : secret {secret}")
        console.print("  à ajouter à GRD_API_ACCOUNTS :")
        print(f"{code}={FOURNISSEUR}:{hash_secret(secret)}")


@app.command("suspend")
def suspend_command(code: Annotated[str, typer.Argument(help="Supplier code.")]) -> None:
    """Suspend a supplier: no more access to the bus (its topics and password are kept)."""
    suspend(code)
    console.print(f"[yellow]fournisseur {code} suspendu[/yellow] (ACL et identifiant Kafka retirés ; `add {code}` le rétablit)")


@app.command("remove")
def remove_command(code: Annotated[str, typer.Argument(help="Supplier code.")]) -> None:
    """Remove a supplier: access, topics and password."""
    deleted = remove(code)
    console.print(f"[red]fournisseur {code} retiré[/red] ({len(deleted)} topics supprimés)")


@app.command("demo")
def demo_command() -> None:
    """Onboard every supplier of the GRD's reference data (the demo suppliers with the shipped file)."""
    cluster = Cluster()
    fournisseurs = reference().fournisseurs
    for f in fournisseurs:
        add(f.code, cluster)
    console.print(f"onboarding: {len(fournisseurs)} suppliers of the reference data onboarded ({', '.join(f.code for f in fournisseurs)})")


@app.command("list")
def list_command() -> None:
    """The onboarded suppliers (those with ACLs on their inbound topic) and what they may do."""
    table = Table("fournisseur", "opération", "ressource")
    for acl in sorted(Cluster().acls()):
        if re.fullmatch(t.CODE_FOURNISSEUR_MOTIF, acl.principal):
            table.add_row(acl.principal, acl.operation, f"{acl.resource.lower()} {acl.name}{'*' if acl.pattern == 'PREFIXED' else ''}")
    console.print(table)


if __name__ == "__main__":
    app()
