"""Who may do what on the bus: the principals, the ONE table of flows, the ACLs derived from it, and their application.

Kafka runs deny-by-default (StandardAuthorizer, `allow.everyone.if.no.acl.found=false`): a principal can only do
what an ACL of this module grants, `admin` (tooling, tests) and `controller` (the KRaft quorum) excepted.
`python -m platform_kit.acl apply` (called by infra/up.sh after topic creation) creates or updates the SCRAM
credentials of every service principal and makes the service ACLs exactly those of `FLUX_SERVICES`; the per-supplier
ACLs are made by `python -m platform_kit.onboarding`.

Credentials: each principal's password lives in one JSON file (`KAFKA_CREDENTIALS_FILE`, default
`$GRD_DATA_DIR/kafka/credentials.json`, mode 600), made on first use; `client_env()` gives the environment a
client of that principal needs (read by `platform_kit.kafka_client`). The admin password comes from the
environment (`KAFKA_SASL_USERNAME`/`KAFKA_SASL_PASSWORD` written by infra/up.sh).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import typer
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

# The package re-exports these implicitly only (mypy --strict): import them from where they are defined.
from confluent_kafka.admin._acl import AclBinding, AclBindingFilter
from confluent_kafka.admin._scram import ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion
from rich.console import Console
from rich.table import Table

from contracts import topics as t

ADMIN = "admin"
CONTROLLER = "controller"
PASSERELLE = "passerelle"
SCRAM_ITERATIONS = 8192

Operation = Literal["READ", "WRITE", "DESCRIBE", "IDEMPOTENT_WRITE"]
# librdkafka calls the cluster resource BROKER (Kafka's CLUSTER, resource type 4).
Resource = Literal["TOPIC", "GROUP", "BROKER"]
Pattern = Literal["LITERAL", "PREFIXED"]


@dataclass(frozen=True)
class Flux:
    """What one service principal reads and writes (its consumer groups are `<service>.<name>`)."""

    lit: tuple[t.Topic, ...]
    ecrit: tuple[t.Topic, ...]
    #: Describe every consumer group and the suppliers' topics (offsets and lag, no records): the supervision only.
    decrit_groupes: bool = False


# THE table (docs/flows.md): which service reads and writes which internal topic. Every service may dead-letter.
# The passerelle's per-supplier topics are added by onboarding (fournisseur_acls).
FLUX_SERVICES: dict[str, Flux] = {
    "referentiel": Flux(
        lit=(t.DEMANDES, t.CONTRATS_EVENEMENTS, t.INTERVENTIONS_EVENEMENTS),
        ecrit=(t.QUALIFIEES_CONTRATS, t.QUALIFIEES_AFFAIRES, t.QUALIFIEES_PLANIFICATION, t.DEMANDES_RESULTATS, t.RELEVES, t.FLUX_R15, t.DLQ),
    ),
    "contrats": Flux(
        lit=(t.QUALIFIEES_CONTRATS, t.INTERVENTIONS_EVENEMENTS, t.AFFAIRES_EVENEMENTS),
        ecrit=(t.CONTRATS_EVENEMENTS, t.AFFAIRES_COMMANDES, t.DEMANDES_RESULTATS, t.FLUX_C15, t.DLQ),
    ),
    "affaires": Flux(
        lit=(t.AFFAIRES_COMMANDES, t.QUALIFIEES_AFFAIRES, t.INTERVENTIONS_EVENEMENTS, t.CONTRATS_EVENEMENTS, t.SI_RESULTATS),
        ecrit=(t.DEMANDES_RESULTATS, t.AFFAIRES_EVENEMENTS, t.INTERVENTIONS_COMMANDES, t.DLQ),
    ),
    "planification": Flux(
        lit=(t.INTERVENTIONS_COMMANDES, t.QUALIFIEES_PLANIFICATION, t.SI_RESULTATS),
        ecrit=(t.SI_COMMANDES, t.INTERVENTIONS_EVENEMENTS, t.DEMANDES_RESULTATS, t.DLQ),
    ),
    "notifications": Flux(
        lit=(t.DEMANDES_RESULTATS, t.AFFAIRES_EVENEMENTS, t.INTERVENTIONS_EVENEMENTS, t.CONTRATS_EVENEMENTS),
        ecrit=(t.NOTIFICATIONS, t.DLQ),
    ),
    "si_comptage": Flux(lit=(t.SI_COMMANDES,), ecrit=(t.SI_RESULTATS, t.DLQ)),
    # The supervision counts outcomes and affaires, taps the demands and the dead letters, reads every group's lag, and
    # re-emits a dead letter to the topic it came from (an operator's action): it may write every consumed topic.
    "supervision": Flux(
        lit=(t.DEMANDES_RESULTATS, t.AFFAIRES_EVENEMENTS, t.DEMANDES, t.DLQ),
        ecrit=tuple(x for x in t.ALL_TOPICS if x is not t.HORLOGE),
        decrit_groupes=True,
    ),
    PASSERELLE: Flux(
        lit=(t.DEMANDES_RESULTATS, t.AFFAIRES_EVENEMENTS, t.FLUX_C15, t.FLUX_R15),
        ecrit=(t.DEMANDES, t.DEMANDES_RESULTATS, t.DLQ),
    ),
}


#: Read by every service: the demo/test clock control (read only with GRD_CLOCK_CONTROL=1, without a group).
LU_PAR_TOUS: tuple[t.Topic, ...] = (t.HORLOGE,)


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule: `principal` may do `operation` on the resource (any host)."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def binding(self) -> AclBinding:
        """The confluent-kafka AclBinding of this rule."""
        return AclBinding(self.resource, self.name, self.pattern, f"User:{self.principal}", "*", self.operation, "ALLOW")


def groupe_prefixe_fournisseur(code: str) -> str:
    """The prefix of a supplier's consumer groups (its systems choose the rest)."""
    return f"fournisseurs.{code}."


def service_acls(service: str) -> set[Acl]:
    """A service's ACLs: read its input topics, write its output topics, its own consumer groups, idempotent producer."""
    flux = FLUX_SERVICES[service]
    acls = {Acl(service, "TOPIC", topic.name, "LITERAL", "READ") for topic in (*flux.lit, *LU_PAR_TOUS)}
    acls |= {Acl(service, "TOPIC", topic.name, "LITERAL", "WRITE") for topic in flux.ecrit}
    acls.add(Acl(service, "GROUP", f"{service}.", "PREFIXED", "READ"))
    # The demo/test clock's offset (read only when GRD_CLOCK_CONTROL=1; platform_kit.clock).
    acls.add(Acl(service, "TOPIC", t.HORLOGE.name, "LITERAL", "READ"))
    acls.add(Acl(service, "BROKER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE"))
    if flux.decrit_groupes:
        acls.add(Acl(service, "GROUP", "*", "LITERAL", "DESCRIBE"))
        # Offsets and metadata of the suppliers' topics too (the passerelle's lag), never their records.
        acls.add(Acl(service, "TOPIC", t.FOURNISSEURS_PREFIXE, "PREFIXED", "DESCRIBE"))
    return acls


def fournisseur_acls(code: str) -> set[Acl]:
    """A supplier's ACLs (write its inbound topic, read its outbound ones and its groups) and the passerelle's for it."""
    acls = {Acl(code, "TOPIC", t.fournisseur_demandes(code).name, "LITERAL", "WRITE")}
    acls |= {Acl(code, "TOPIC", topic.name, "LITERAL", "READ") for topic in t.topics_sortants(code)}
    acls.add(Acl(code, "GROUP", groupe_prefixe_fournisseur(code), "PREFIXED", "READ"))
    acls.add(Acl(PASSERELLE, "TOPIC", t.fournisseur_demandes(code).name, "LITERAL", "READ"))
    acls |= {Acl(PASSERELLE, "TOPIC", topic.name, "LITERAL", "WRITE") for topic in t.topics_sortants(code)}
    return acls


def all_service_acls() -> set[Acl]:
    """Every service principal's ACLs."""
    return {acl for service in FLUX_SERVICES for acl in service_acls(service)}


# ---------------------------------------------------------------- credentials


def credentials_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where the principals' passwords are kept."""
    env = os.environ if environ is None else environ
    if env.get("KAFKA_CREDENTIALS_FILE"):
        return Path(env["KAFKA_CREDENTIALS_FILE"])
    data = Path(env.get("GRD_DATA_DIR") or Path(__file__).resolve().parents[1] / ".data")
    return data / "kafka" / "credentials.json"


def _read(path: Path) -> dict[str, str]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _write(path: Path, creds: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(dict(sorted(creds.items())), f, indent=1)
    tmp.replace(path)


def password_for(principal: str, *, create: bool = True, environ: Mapping[str, str] | None = None) -> str:
    """The principal's password from the credentials file (made and saved on first use when `create`)."""
    env = os.environ if environ is None else environ
    if principal == ADMIN and env.get("KAFKA_SASL_USERNAME") == ADMIN:
        return env.get("KAFKA_SASL_PASSWORD", "")
    path = credentials_file(env)
    creds = _read(path)
    if principal not in creds:
        if not create:
            raise KeyError(f"no Kafka credentials for {principal!r} in {path}")
        creds[principal] = secrets.token_urlsafe(24)
        _write(path, creds)
    return creds[principal]


def forget_password(principal: str) -> None:
    """Drop a principal's password from the credentials file."""
    path = credentials_file()
    creds = _read(path)
    if creds.pop(principal, None) is not None:
        _write(path, creds)


def client_env(principal: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables making a client authenticate as `principal` (unchanged when Kafka runs in PLAINTEXT)."""
    env = os.environ if environ is None else environ
    if env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper() == "PLAINTEXT":
        return {}
    return {"KAFKA_SASL_USERNAME": principal, "KAFKA_SASL_PASSWORD": password_for(principal, environ=env)}


# ---------------------------------------------------------------- the cluster side


def confluent_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """librdkafka settings of the admin client, from the same variables as platform_kit.kafka_client."""
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {"bootstrap.servers": env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), "log_level": 3}
    protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    config["security.protocol"] = protocol
    if protocol != "PLAINTEXT":
        config["sasl.mechanism"] = env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        config["sasl.username"] = env.get("KAFKA_SASL_USERNAME", "")
        config["sasl.password"] = env.get("KAFKA_SASL_PASSWORD", "")
    if protocol == "SASL_SSL" and env.get("KAFKA_SSL_CAFILE"):
        config["ssl.ca.location"] = env["KAFKA_SSL_CAFILE"]
    return config


class Cluster:
    """The admin operations on principals and ACLs (confluent-kafka: aiokafka has no ACL nor SCRAM admin API)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.admin = AdminClient(confluent_config(environ))

    def upsert_user(self, principal: str, password: str) -> None:
        """Create or update the principal's SCRAM-SHA-512 credential."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        for future in self.admin.alter_user_scram_credentials([UserScramCredentialUpsertion(principal, info, password.encode())]).values():
            future.result(timeout=30)

    def delete_user(self, principal: str) -> None:
        """Remove the principal's SCRAM credential (no-op when it has none)."""
        deletion = UserScramCredentialDeletion(principal, ScramMechanism.SCRAM_SHA_512)
        for future in self.admin.alter_user_scram_credentials([deletion]).values():
            try:
                future.result(timeout=30)
            except KafkaException as exc:
                if "RESOURCE_NOT_FOUND" not in str(exc):
                    raise

    def acls(self) -> set[Acl]:
        """Every ALLOW rule of the cluster."""
        # None matches any name, principal and host (the stubs type them as str).
        flt = AclBindingFilter("ANY", None, "ANY", None, None, "ANY", "ANY")  # type: ignore[arg-type]
        bindings = self.admin.describe_acls(flt).result(timeout=30)
        return {
            Acl(b.principal.removeprefix("User:"), b.restype.name, b.name, b.resource_pattern_type.name, b.operation.name)
            for b in bindings
            if b.permission_type.name == "ALLOW"
        }

    def create(self, acls: Iterable[Acl]) -> None:
        """Create these rules (creating an existing rule is a no-op)."""
        bindings = [acl.binding() for acl in sorted(acls)]
        if bindings:
            for future in self.admin.create_acls(bindings).values():
                future.result(timeout=30)

    def delete(self, acls: Iterable[Acl]) -> None:
        """Delete exactly these rules."""
        filters = [AclBindingFilter(a.resource, a.name, a.pattern, f"User:{a.principal}", "*", a.operation, "ALLOW") for a in sorted(acls)]
        if filters:
            for future in self.admin.delete_acls(filters).values():
                future.result(timeout=30)


def _par_onboarding(acl: Acl) -> bool:
    """Whether onboarding owns this rule (the literal ones on a supplier's topics)."""
    return acl.pattern == "LITERAL" and acl.resource == "TOPIC" and acl.name.startswith(t.FOURNISSEURS_PREFIXE)


def apply(cluster: Cluster | None = None) -> tuple[int, int]:
    """Make the service principals and their ACLs exactly those of the table; return (created, deleted) rule counts.

    The literal rules on supplier topics (`grd.fournisseurs.<CODE>.*`) belong to onboarding and are left alone.
    """
    cluster = cluster or Cluster()
    for service in FLUX_SERVICES:
        cluster.upsert_user(service, password_for(service))
    wanted = all_service_acls()
    current = {a for a in cluster.acls() if a.principal in FLUX_SERVICES and not _par_onboarding(a)}
    cluster.delete(current - wanted)
    cluster.create(wanted - current)
    return len(wanted - current), len(current - wanted)


app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@app.command("apply")
def apply_command() -> None:
    """Create/update the service principals and make their ACLs those of the table."""
    created, deleted = apply()
    Console().print(f"acl: {len(FLUX_SERVICES)} service principals, {created} rules created, {deleted} removed")


@app.command("show")
def show_command(principal: str = typer.Argument(None, help="only this principal")) -> None:
    """Print the cluster's ACLs."""
    table = Table("principal", "operation", "resource", "pattern", "name")
    for acl in sorted(Cluster().acls()):
        if principal is None or acl.principal == principal:
            table.add_row(acl.principal, acl.operation, acl.resource, acl.pattern, acl.name)
    Console().print(table)


@app.command("table")
def table_command() -> None:
    """Print the flows table (what each service may read and write)."""
    table = Table("service", "reads", "writes")
    for service, flux in FLUX_SERVICES.items():
        table.add_row(service, "\n".join(x.name for x in flux.lit), "\n".join(x.name for x in flux.ecrit))
    Console().print(table)


if __name__ == "__main__":
    app()
