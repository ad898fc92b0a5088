"""`sensors` and `sensors -j` (lm-sensors 3.6) for a simulated node, from its thermal state.

Intel nodes show `coretemp-isa-0000` (a "Package id 0" plus one entry per core, with max/crit
limits), AMD nodes `k10temp-pci-00c3` (Tctl and Tccd*, which carry no limits, as on real
hardware); every node has `acpitz-acpi-0`, and nodes with an NVMe disk `nvme-pci-0100`.
`sensors -j` prints every number with three decimals and indents by three spaces, like the real
tool (so the output is JSON, but not Python's JSON).
"""

from __future__ import annotations

import json

from .hostos import INTEL_LIMITS, NodeHost

Chip = tuple[str, str, list[tuple[str, list[tuple[str, float]]]]]


def chips(host: NodeHost) -> list[Chip]:
    """The node's sensor chips: (name, adapter, [(feature, [(subfeature, value)])])."""
    thermal = host.thermal
    package = thermal.reading(thermal.package)
    out: list[Chip] = [
        ("acpitz-acpi-0", "ACPI interface",
         [("temp1", [("temp1_input", round(20.0 + package * 0.15, 1)), ("temp1_crit", 119.0)])]),
    ]
    if thermal.vendor == "intel":
        high, crit = INTEL_LIMITS

        def limits(index: int, value: float) -> list[tuple[str, float]]:
            return [(f"temp{index}_input", value), (f"temp{index}_max", high),
                    (f"temp{index}_crit", crit), (f"temp{index}_crit_alarm", float(value >= crit))]

        features = [("Package id 0", limits(1, package))]
        features += [(f"Core {i}", limits(i + 2, t)) for i, t in enumerate(thermal.core_temps)]
        out.append(("coretemp-isa-0000", "ISA adapter", features))
    else:
        features = [("Tctl", [("temp1_input", package)])]
        features += [(f"Tccd{i + 1}", [(f"temp{i + 3}_input", t)]) for i, t in enumerate(thermal.core_temps)]
        out.append(("k10temp-pci-00c3", "PCI adapter", features))
    if any(d.type == "nvme" for d in host.disks.disks):
        nvme = float(int(12.0 + package * 0.55)) + 0.85
        out.append(("nvme-pci-0100", "PCI adapter", [("Composite", [
            ("temp1_input", nvme), ("temp1_max", 81.85), ("temp1_min", -273.15),
            ("temp1_crit", 84.85), ("temp1_alarm", float(nvme >= 81.85)),
        ])]))
    return out


def as_json(host: NodeHost) -> str:
    """`sensors -j` output."""
    lines = ["{"]
    all_chips = chips(host)
    for c, (name, adapter, features) in enumerate(all_chips):
        lines.append(f"   {json.dumps(name)}:{{")
        lines.append(f"      \"Adapter\": {json.dumps(adapter)},")
        for f, (label, subs) in enumerate(features):
            lines.append(f"      {json.dumps(label)}:{{")
            for s, (sub, value) in enumerate(subs):
                comma = "," if s < len(subs) - 1 else ""
                lines.append(f"         {json.dumps(sub)}: {value:.3f}{comma}")
            lines.append("      }" + ("," if f < len(features) - 1 else ""))
        lines.append("   }" + ("," if c < len(all_chips) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _deg(value: float) -> str:
    return f"{value:+.1f}°C"


def as_text(host: NodeHost) -> str:
    """Plain `sensors` output."""
    blocks = []
    for name, adapter, features in chips(host):
        lines = [name, f"Adapter: {adapter}"]
        for label, subs in features:
            values = {sub.split("_", 1)[1]: value for sub, value in subs}
            extra = []
            if "max" in values:
                extra.append(f"high = {_deg(values['max'])}")
            if "crit" in values:
                extra.append(f"crit = {_deg(values['crit'])}")
            limits = f"  ({', '.join(extra)})" if extra else ""
            lines.append(f"{label + ':':<14}{_deg(values['input']):>8}{limits}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n"
