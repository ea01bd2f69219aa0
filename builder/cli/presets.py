"""``mcpbuild presets``: the provider presets, and one preset with its quirks explained."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml

from builder.cli.common import EXIT_INVALID, _count, app
from builder.presets import Preset, PresetError, apply_preset, load_preset, preset_names


class PresetsFormat(StrEnum):
    text = "text"
    json = "json"


@app.command("presets")
def presets_command(
    name: Annotated[
        str | None, typer.Argument(help="A preset to print in full, with its quirks.")
    ] = None,
    output: Annotated[
        PresetsFormat, typer.Option("--format", help="text, or one JSON document for scripts.")
    ] = PresetsFormat.text,
) -> None:
    """List the provider presets a connector can name with `provider: {preset: NAME}`, or
    print one: its docs, options, `${grant.*}` values, quirks and provider block."""
    if name is None:
        listed = [load_preset(n) for n in preset_names()]
        if output is PresetsFormat.json:
            typer.echo(json.dumps([_summary_json(p) for p in listed], indent=2))
        else:
            typer.echo(_list_text(listed))
        return
    try:
        preset = load_preset(name)
    except PresetError as exc:
        typer.echo(" ".join(str(exc).split()), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if output is PresetsFormat.json:
        typer.echo(json.dumps(_preset_json(preset), indent=2, ensure_ascii=False))
    else:
        typer.echo(_preset_text(preset), nl=False)


def _resolved_block(preset: Preset) -> dict[str, Any]:
    """The preset's provider block with the option defaults filled in, without ``preset``:
    a block that validates on its own when pasted into a connector."""
    block, _ = apply_preset({"preset": preset.name})
    block.pop("preset", None)
    return block


def _summary(preset: Preset) -> str:
    parts = [_count(len(preset.quirks), "quirk")]
    if preset.options:
        options = ", ".join(f"{k} (default {o.default})" for k, o in preset.options.items())
        parts.append(f"options: {options}")
    if preset.provides:
        parts.append("provides: " + ", ".join(f"${{grant.{k}}}" for k in preset.provides))
    return "; ".join(parts)


def _list_text(listed: list[Preset]) -> str:
    name_width = max(len(p.name) for p in listed)
    title_width = max(len(p.title) for p in listed)
    lines = [
        f"{p.name:<{name_width}}  {p.title:<{title_width}}  {_summary(p)}".rstrip() for p in listed
    ]
    lines.append("")
    lines.append("`mcpbuild presets NAME` prints one with its quirks explained.")
    return "\n".join(lines)


def _summary_json(preset: Preset) -> dict[str, Any]:
    return {
        "name": preset.name,
        "title": preset.title,
        "quirks": len(preset.quirks),
        "options": {k: o.default for k, o in preset.options.items()},
        "provides": list(preset.provides),
    }


def _preset_json(preset: Preset) -> dict[str, Any]:
    return {
        "name": preset.name,
        "title": preset.title,
        "docs": list(preset.docs),
        "options": {
            k: {"default": o.default, "description": o.description}
            for k, o in preset.options.items()
        },
        "provides": dict(preset.provides),
        "quirks": [q.model_dump() for q in preset.quirks],
        "provider": _resolved_block(preset),
        "provider_template": preset.provider,
    }


def _preset_text(preset: Preset) -> str:
    out: list[str] = [f"{preset.name}: {preset.title}", "", "Docs:"]
    out += [f"  {url}" for url in preset.docs]
    if preset.options:
        out += ["", "Options (provider.options; fill the {placeholders} in the URLs):"]
        for key, option in preset.options.items():
            out.append(f"  {key} (default: {option.default})")
            out.append(f"      {option.description}")
    if preset.provides:
        out += ["", "Provides (usable in api.base_url and headers):"]
        for key, what in preset.provides.items():
            out.append(f"  ${{grant.{key}}}")
            out.append(f"      {what}")
    out += ["", f"Quirks ({len(preset.quirks)}):"]
    for i, quirk in enumerate(preset.quirks, 1):
        out.append(f"  {i}. {quirk.quirk}")
        out.append(f"     Handled: {quirk.handled}")
        out.append(f"     Source: {quirk.source}")
    use: dict[str, Any] = {"preset": preset.name}
    if preset.options:
        use["options"] = {k: o.default for k, o in preset.options.items()}
    out += ["", "Use it (fields written next to `preset` override the preset's):", ""]
    out.append(_yaml({"provider": use}))
    out += ["Or paste the whole block (option defaults filled in):", ""]
    out.append(_yaml({"provider": _resolved_block(preset)}))
    return "\n".join(out)


def _yaml(data: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    return text
