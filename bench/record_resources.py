"""Record K successive /cluster/resources answers (and one /cluster/status) of the simulator.

    .venv/bin/python bench/record_resources.py 50 5000 7      # nodes, guests, answers -> /tmp/jarvis-bodies.json

The simulator ticks between answers, so every running guest's metrics move as on a live
cluster. bench/replay_cycle.py runs the recording through two versions of the code under
valgrind: instruction counts do not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import subprocess
import sys

import requests

OUT = "/tmp/jarvis-bodies.json"


def main() -> None:
    """Start a seeded simulator, tick it and record its answers."""
    nodes, guests, answers = (int(a) for a in sys.argv[1:4])
    proc = subprocess.Popen(
        [sys.executable, "-m", "jarvis.plugins.proxmox.sim", "--port", "0", "--json", "--seed", "7",
         "--nodes", str(nodes), "--guests", str(guests), "--tick-seconds", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    headers = {"Authorization": f"PVEAPIToken={info['token_id']}={info['token_secret']}"}
    out: dict[str, object] = {"resources": []}

    def get(path: str) -> str:
        return requests.get(f"{info['url']}/api2/json/{path}", headers=headers, verify=info["ca_file"],
                            timeout=60).content.decode()

    try:
        for _ in range(answers):
            requests.post(f"{info['url']}/_sim/tick", headers=headers, verify=info["ca_file"], timeout=60)
            out["resources"].append(get("cluster/resources"))  # type: ignore[attr-defined]
        out["status"] = get("cluster/status")
    finally:
        proc.terminate()
    with open(OUT, "w", encoding="utf-8") as file:
        json.dump(out, file)
    print(f"recorded {answers} answers in {OUT}")


if __name__ == "__main__":
    main()
