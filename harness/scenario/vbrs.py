"""VBRs as a scenario writes them: the ASCII form or a mapping; `staged` names a scenario image and `registered`
an image the scenario publishes or registers."""
from __future__ import annotations

from engine.vbr import Vbr, VbrError, parse_ascii
from harness.scenario.registry import ScenarioError


def resolve_vbr(value, sc, where: str) -> Vbr:
    """ASCII form, or a mapping {type, id, size, format, device, location}; location `staged` means the
    scenario's image with that id."""
    try:
        if isinstance(value, str):
            vbr = parse_ascii(value)
        elif isinstance(value, dict):
            unknown = set(value) - {"type", "id", "size", "format", "device", "location"}
            if unknown:
                raise ScenarioError(f"{where}: unknown field '{sorted(unknown)[0]}'")
            vbr = Vbr(str(value.get("type", "")), str(value.get("id", "none")), int(value.get("size", -1)),
                      str(value.get("format", "none")), str(value.get("device", "none")),
                      str(value.get("location", "none")))
        else:
            raise ScenarioError(f"{where}: must be an ASCII VBR or a mapping")
    except (VbrError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if vbr.location == "registered":
        if vbr.id not in sc.aliases and not any(s.id == vbr.id and s.publish for s in sc.images):
            raise ScenarioError(f"{where}: '{vbr.id}' is neither a published image nor an earlier register_as")
        return vbr
    if vbr.location == "staged":
        spec = next((s for s in sc.images if s.id == vbr.id), None)
        if spec is None:
            raise ScenarioError(f"{where}: no image '{vbr.id}' under 'images' to stage")
        vbr.location = spec.location
    return vbr
