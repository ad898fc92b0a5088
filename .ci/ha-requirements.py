"""Print the pip requirements of the Home Assistant integrations our HA test instance loads.

Run with the HA venv's Python: `python ha-requirements.py DOMAIN...`. HA runs with --skip-pip in
the tests (it must not download anything), so every integration it sets up needs its
requirements installed beforehand. The set is HA's own start-up list (bootstrap's core and
default integrations), the domains named on the command line, MQTT's entity platforms, and the
`dependencies` of all of those, read from the installed integrations' manifests.
"""

import json
import sys
from pathlib import Path

from homeassistant import bootstrap
from homeassistant.components.mqtt.const import SUPPORTED_COMPONENTS

components = Path(bootstrap.__file__).parent / "components"
todo = [*bootstrap.CORE_INTEGRATIONS, *bootstrap.DEFAULT_INTEGRATIONS, *SUPPORTED_COMPONENTS, *sys.argv[1:]]
seen: set[str] = set()
requirements: set[str] = set()
while todo:
    domain = todo.pop()
    if domain in seen:
        continue
    seen.add(domain)
    manifest = json.loads((components / domain / "manifest.json").read_text())
    requirements.update(manifest.get("requirements", []))
    todo.extend(manifest.get("dependencies", []))
print("\n".join(sorted(requirements)))
