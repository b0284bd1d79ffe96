"""Settings of the passerelle (env prefix PASSERELLE_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from platform_kit.settings import KitSettings


class Settings(KitSettings):
    """Infrastructure settings plus how often the list of onboarded suppliers is re-read."""

    model_config = SettingsConfigDict(env_prefix="PASSERELLE_", extra="ignore", frozen=True)

    service_name: str = Field(default="passerelle", description="Service name, used for consumer groups and metrics.")
    http_port: int = Field(default=8007, description="HTTP port.")
    relecture_fournisseurs_s: float = Field(
        default=10.0, gt=0, description="Shortest delay between two readings of the onboarded suppliers' topics (on a message for an unknown one)."
    )
