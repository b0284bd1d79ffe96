"""Base model of every wire payload: frozen, strict about unknown fields, documented."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
