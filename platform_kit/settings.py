"""Settings every service reads, built once at start from the environment."""

from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_kit.auth import DEMO_ACCOUNTS


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
        default=64,
        ge=2,
        description=(
            "Records fetched ahead per partition while its lane is busy (partitions are handled concurrently). A lane"
            " holding this many pauses its partition's fetching and resumes it at half; the fetch loop never waits on"
            " one lane. Memory bound: partitions x lane_buffer x record size per consumer."
        ),
    )
    lane_stall_s: float = Field(
        default=300.0,
        gt=0,
        description="A partition lane holding records that finished none for this long is stalled: metric grd_lane_stalled and /health 503.",
    )
    rebalance_grace_s: float = Field(
        default=20.0,
        gt=0,
        description="At a partition's revocation, how long its lane may finish the record in hand before abandoning it.",
    )
    max_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024 * 1024,
        description="Largest record the producers send (aligned with the topics' max.message.bytes, see contracts.topics).",
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
    outbox_sweep_min_age_s: float = Field(
        default=60.0,
        ge=0,
        description=(
            "The sweep publishes only outbox entries queued at least this long ago: a younger one belongs to a commit"
            " whose fast path (here or in another instance) is publishing it, and taking it too would publish it twice."
        ),
    )
    consumer_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a NEW consumer group starts: earliest (production: nothing lost) or latest (isolated test apps).",
    )
    demo_mode: bool = Field(
        default=False,
        validation_alias=AliasChoices("GRD_DEMO_MODE", "demo_mode"),
        description="Demo mode: with GRD_API_ACCOUNTS empty, the published demo accounts are used (never in production).",
    )
    api_accounts: str = Field(
        default="",
        validation_alias=AliasChoices("GRD_API_ACCOUNTS", "api_accounts"),
        description=(
            "HTTP accounts `CODE=role:pbkdf2hash,...` (python -m platform_kit.auth account CODE); empty refuses to start"
            " unless GRD_DEMO_MODE=1."
        ),
    )
    auth_max_echecs: int = Field(
        default=10,
        ge=1,
        validation_alias=AliasChoices("GRD_AUTH_MAX_ECHECS", "auth_max_echecs"),
        description="Failed HTTP authentications allowed per code and per client address in the window, then 429.",
    )
    auth_fenetre_echecs_s: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices("GRD_AUTH_FENETRE_ECHECS_S", "auth_fenetre_echecs_s"),
        description="Sliding window (seconds) of the failed-authentication limit.",
    )
    auth_cache_ttl_s: float = Field(
        default=60.0,
        ge=0,
        validation_alias=AliasChoices("GRD_AUTH_CACHE_TTL_S", "auth_cache_ttl_s"),
        description="How long a verified (code, secret) pair is trusted without hashing again (0: never cached).",
    )
    auth_cache_taille: int = Field(
        default=1024,
        ge=1,
        validation_alias=AliasChoices("GRD_AUTH_CACHE_TAILLE", "auth_cache_taille"),
        description="Most verified (code, secret) pairs kept in the cache (least recently used dropped first).",
    )
    auth_threads_hachage: int = Field(
        default=2,
        ge=1,
        validation_alias=AliasChoices("GRD_AUTH_THREADS_HACHAGE", "auth_threads_hachage"),
        description="Threads hashing HTTP secrets (PBKDF2 runs off the event loop, at most this many at once).",
    )

    @field_validator("api_accounts")
    @classmethod
    def _demo_accounts(cls, value: str, info: ValidationInfo) -> str:
        """Demo mode without explicit accounts gets the demo accounts; otherwise the accounts are as configured."""
        if not value.strip() and info.data.get("demo_mode"):
            return DEMO_ACCOUNTS
        return value
    clock_control: bool = Field(
        default=False,
        validation_alias=AliasChoices("GRD_CLOCK_CONTROL", "clock_control"),
        description="Demo and tests only: the clock follows the offset of the grd.horloge.v1 topic (off in production).",
    )
    clock_name: str = Field(
        default="grd",
        validation_alias=AliasChoices("GRD_CLOCK_NAME", "clock_name"),
        description="Name of the controlled clock this service follows (one platform's services share it).",
    )

    @property
    def database_name(self) -> str:
        """Name of the service's database."""
        return self.database or f"grd_{self.service_name}"
