"""Settings of the affaires service (variables prefixed AFFAIRES_, infrastructure ones unprefixed)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings


class Settings(KitSettings):
    """Configuration of the affaires service, built once at start."""

    model_config = SettingsConfigDict(env_prefix="AFFAIRES_", extra="ignore", frozen=True)

    service_name: str = Field(default="affaires", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8003, description="HTTP port of the affaires read API.")
    piece_jointe_taille_max_octets: int = Field(
        default=2 * 1024 * 1024, gt=0, description="Largest decoded size of a réclamation's attachment, in bytes."
    )
    liste_limite_max: int = Field(default=500, gt=0, description="Largest page size of GET /affaires.")
    liste_saut_max: int = Field(
        default=10_000, ge=0, description="Largest `saut` of GET /affaires (each partition returns up to saut + limite keys)."
    )
    partitions: int = Field(
        default=64,
        ge=1,
        description="Collections the affaires are spread over (seed and service must agree).",
    )
    refus_partitions: int = Field(default=16, ge=1, description="Collections the refused demands (one document each) are spread over.")
