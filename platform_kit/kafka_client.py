"""How every Kafka client of the project authenticates: one place reading the security settings from the environment.

`KAFKA_SECURITY_PROTOCOL` (PLAINTEXT by default, SASL_PLAINTEXT or SASL_SSL), `KAFKA_SASL_MECHANISM`
(SCRAM-SHA-512 by default), `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, `KAFKA_SSL_CAFILE` (SASL_SSL only).
Services, tests, benchmarks and tools build their aiokafka clients with `kafka_options()` and their faststream
broker with `faststream_security()`, so that turning authentication on is a matter of environment, not code.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any

from faststream.security import BaseSecurity, SASLScram256, SASLScram512


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    cafile = env.get("KAFKA_SSL_CAFILE") or None
    return ssl.create_default_context(cafile=cafile)


def kafka_options(environ: Mapping[str, str] | None = None, *, username: str | None = None, password: str | None = None) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient: the security settings (empty for PLAINTEXT)."""
    env = _env(environ)
    protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "sasl_mechanism": env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        "sasl_plain_username": username if username is not None else env.get("KAFKA_SASL_USERNAME", ""),
        "sasl_plain_password": password if password is not None else env.get("KAFKA_SASL_PASSWORD", ""),
    }
    if protocol == "SASL_SSL":
        options["ssl_context"] = _ssl_context(env)
    return options


def faststream_security(environ: Mapping[str, str] | None = None) -> BaseSecurity | None:
    """The faststream `security=` object matching `kafka_options()` (None for PLAINTEXT)."""
    env = _env(environ)
    protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return None
    username = env.get("KAFKA_SASL_USERNAME", "")
    password = env.get("KAFKA_SASL_PASSWORD", "")
    context = _ssl_context(env) if protocol == "SASL_SSL" else None
    if env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper() == "SCRAM-SHA-256":
        return SASLScram256(username, password, ssl_context=context, use_ssl=protocol == "SASL_SSL")
    return SASLScram512(username, password, ssl_context=context, use_ssl=protocol == "SASL_SSL")


def bootstrap_list(servers: str) -> list[str]:
    """`host:port,host:port` (KAFKA_BOOTSTRAP_SERVERS) as the list of its hosts; blanks and empty items dropped."""
    hosts = [h.strip() for h in servers.split(",") if h.strip()]
    if not hosts:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS est vide : indiquez au moins un hôte:port")
    return hosts
