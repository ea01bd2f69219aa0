"""The base of every model of ``connector.yaml``: unknown keys are errors, values frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["SpecModel"]


class SpecModel(BaseModel):
    """A part of the spec: unknown keys are errors, and a loaded spec does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
