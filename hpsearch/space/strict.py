"""The base of a study file's settings tables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A settings table that refuses unknown keys and wrong types (`trials = "12"`, `= true`,
    `= 12.0`) instead of converting them; a whole number may still stand for a float."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
