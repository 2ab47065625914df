"""What systemd says of units, read for several at once (no pyinfra needed)."""

from __future__ import annotations

import shlex

PROPERTIES = ("Id", "ActiveState", "UnitFileState")
UNKNOWN = ("unknown", "unknown")


def show_command(units) -> str:
    """One ``systemctl show`` printing each unit's name, active state and unit file state."""
    names = " ".join(map(shlex.quote, units))
    return f"systemctl show --property={','.join(PROPERTIES)} -- {names}"


def parse_show(lines) -> dict[str, tuple[str, str]]:
    """``{Id: (active, enabled)}`` as ``systemctl is-active`` and ``is-enabled`` would say;
    ``unknown`` where systemctl says nothing. A unit's block ends where a property comes
    again (blank lines between blocks are not needed, nor any order within one)."""
    blocks: list[dict[str, str]] = [{}]
    for line in lines:
        key, equals, value = line.partition("=")
        if not equals or key not in PROPERTIES:
            continue
        if key in blocks[-1]:
            blocks.append({})
        blocks[-1][key] = value.strip()
    return {
        block["Id"]: (
            block.get("ActiveState") or UNKNOWN[0],
            block.get("UnitFileState") or UNKNOWN[1],
        )
        for block in blocks
        if block.get("Id")
    }


def by_name(states: dict[str, tuple[str, str]], units) -> dict[str, tuple[str, str]]:
    """``states`` under the names asked for: ``docker`` is systemd's ``docker.service``."""
    return {unit: states.get(unit) or states.get(f"{unit}.service") or UNKNOWN for unit in units}
