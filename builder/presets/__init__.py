"""Provider presets: the endpoints, client authentication and quirks of known OAuth
providers, as data files next to this module (one ``NAME.yaml`` per provider).

A connector writes ``provider: {preset: google}`` and may override any field next to it.
:func:`apply_preset` fills the block in before the connector is validated, so a preset is
checked by the same :class:`~builder.connector.models_provider.Provider` model as a block
written by hand.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from builder.errors import MCPBuildError

__all__ = [
    "MERGED_FIELDS",
    "Preset",
    "PresetError",
    "PresetOption",
    "Quirk",
    "apply_preset",
    "load_preset",
    "preset_names",
]

MERGED_FIELDS = ("scopes", "authorize_params", "token_params", "grant_values", "options")
"""Provider mappings a connector's block merges into the preset's key by key (the
connector's value wins); ``always_request`` lists are joined; every other field replaces."""
_FILLED = ("authorization_url", "token_url", "revocation_url", "authorize_params", "token_params")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class PresetError(MCPBuildError):
    """A preset that does not exist or cannot be applied (an unknown option)."""


class PresetOption(BaseModel):
    """A ``{placeholder}`` in the preset's URLs, set with ``provider.options``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str = Field(description="The value when the connector sets none.")
    description: str = Field(description="What the option is, for `mcpbuild presets NAME`.")


class Quirk(BaseModel):
    """One way the provider differs from plain RFC 6749, and how the preset handles it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quirk: str = Field(description="What the provider does.")
    handled: str = Field(description="What the preset (or mcpbuild) does about it.")
    source: str = Field(description="The provider's documentation that says so.")


class Preset(BaseModel):
    """One provider preset file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    docs: list[str] = Field(min_length=1, description="The provider's OAuth documentation.")
    options: dict[str, PresetOption] = Field(default_factory=dict)
    quirks: list[Quirk] = Field(default_factory=list)
    provides: dict[str, str] = Field(
        default_factory=dict,
        description="`${grant.NAME}` values the preset reads at sign-in, with what they are.",
    )
    provider: dict[str, Any]
    """The provider block, before options are substituted (validated by the Provider model
    in the tests, with the defaults)."""


@functools.cache
def preset_names() -> tuple[str, ...]:
    """Every preset's name, sorted."""
    folder = resources.files(__name__)
    return tuple(
        sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


@functools.cache
def load_preset(name: str) -> Preset:
    """The preset ``name``; :class:`PresetError` naming the closest one when unknown."""
    if name not in preset_names():
        import difflib

        near = difflib.get_close_matches(name, preset_names(), n=1, cutoff=0.6)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise PresetError(
            f"unknown preset '{name}'{hint} (`mcpbuild presets` lists them: "
            f"{', '.join(preset_names())})"
        )
    text = resources.files(__name__).joinpath(f"{name}.yaml").read_text("utf-8")
    return Preset.model_validate({"name": name, **yaml.safe_load(text)})


def apply_preset(block: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """The provider ``block`` with its preset filled in, and the fields that came from the
    preset (for error messages). A block without ``preset`` comes back as it is."""
    name = block.get("preset")
    if not isinstance(name, str):
        return dict(block), frozenset()
    preset = load_preset(name)
    options = block.get("options") or {}
    if not isinstance(options, Mapping):
        options = {}
    unknown = [k for k in options if k not in preset.options]
    if unknown:
        known = ", ".join(preset.options) or "none"
        raise PresetError(f"preset '{name}' has no option '{unknown[0]}' (its options: {known})")
    values = {k: str(options.get(k, o.default)) for k, o in preset.options.items()}
    merged: dict[str, Any] = {
        k: _fill(v, values) if k in _FILLED else v for k, v in preset.provider.items()
    }
    from_preset = set(merged)
    for key, value in block.items():
        if (
            key in MERGED_FIELDS
            and isinstance(value, Mapping)
            and isinstance(merged.get(key), Mapping)
        ):
            merged[key] = {**merged[key], **value}
        elif key == "always_request" and isinstance(value, list):
            merged[key] = list(dict.fromkeys([*merged.get(key, []), *value]))
        else:
            merged[key] = value
            from_preset.discard(key)
    return merged, frozenset(from_preset)


def _fill(value: Any, options: Mapping[str, str]) -> Any:
    """``{option}`` placeholders in the preset's strings replaced by the option values."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: options.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_fill(v, options) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, options) for k, v in value.items()}
    return value
