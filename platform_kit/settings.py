"""Settings every service reads, built once at start from the environment."""

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KitSettings(BaseSettings):
    """Infrastructure settings shared by every service (unprefixed variables) plus per-service ones (prefixed)."""

    model_config = SettingsConfigDict(env_prefix="GRD_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers.",
    )
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017/",
        validation_alias=AliasChoices("MONGODB_URL"),
        description="MongoDB (or FerretDB) connection URL.",
    )
    service_name: str = Field(default="service", description="Service name, used for consumer groups and metrics.")
    database: str = Field(default="", description="Database owned by the service (defaults to grd_<service>).")
    http_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    http_port: int = Field(default=8000, description="HTTP port.")
    max_attempts: int = Field(default=5, ge=1, description="Attempts of a failing handler before its message is dead-lettered.")
    backoff_initial_s: float = Field(default=0.1, gt=0, description="First retry delay (doubles at each attempt).")
    backoff_max_s: float = Field(default=5.0, gt=0, description="Largest retry delay, also used while infrastructure is down.")
    outbox_sweep_interval_s: float = Field(default=0.5, gt=0, description="How often the outbox relay looks for unpublished events.")
    commit_every: int = Field(
        default=50, ge=1, description="Offsets are committed after this many handled messages (or commit_interval_s), not after each one."
    )
    commit_interval_s: float = Field(default=0.5, gt=0, description="Longest time a handled message's offset waits before it is committed.")
    lane_buffer: int = Field(
        default=32,
        ge=1,
        description="Records fetched ahead per partition while its lane is busy (partitions are handled concurrently).",
    )
    log_level: str = Field(default="INFO", description="Log level.")
    inbox_partitions: int = Field(default=32, ge=1, description="Collections the inbox is spread over.")
    outbox_full_sweep_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "How often the outbox relay scans every store for unpublished events (also once at start). Only a safety"
            " net: failed flushes are retried from memory, and what a crash leaves is published when its message is"
            " redelivered. A scan reads whole collections (FerretDB uses no secondary index)."
        ),
    )
    outbox_first_sweep_delay_s: float = Field(
        default=30.0, ge=0, description="Delay of the relay's first full sweep after start (a paced scan of every store)."
    )
    consumer_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a NEW consumer group starts: earliest (production: nothing lost) or latest (isolated test apps).",
    )
    api_accounts: str = Field(
        default="",
        validation_alias=AliasChoices("GRD_API_ACCOUNTS"),
        description="HTTP accounts `CODE=role:pbkdf2hash,...`; empty means the demo accounts.",
    )

    @property
    def database_name(self) -> str:
        """Name of the service's database."""
        return self.database or f"grd_{self.service_name}"
