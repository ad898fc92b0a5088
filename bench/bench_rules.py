"""Time the rules parser per message, at the demo's size and at 50 nodes x 5,000 guests.

    .venv/bin/python bench/bench_rules.py [--repeat 5]

The world is drawn by the PVE simulator's generator (no server, no hub) and built once with
``World.from_state`` (which indexes every name); the messages are the shipped eval scenarios,
their placeholders bound to that world, plus a few typo-heavy and unknown-name requests (the
fuzzy path, the most expensive one). Each message is interpreted ``--repeat`` times; the table
gives the per-message median, p95 and max of the best run, and the slowest message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures

from jarvis.plugins.llm_rules import World, interpret  # noqa: E402
from jarvis.plugins.llm_rules.scenarios import Unbound, load_scenarios, resolve_placeholders  # noqa: E402

from tests.fixtures.rules_world import ALL_TOOLS, sim_state  # noqa: E402

EXTRA = [
    "restrat {running_vm.name|typo}", "is {running_guest.name|typo} running", "start xyzzy-plugh",
    "stop vltwrdn", "what's using the most memory on {online_node.name}", "list stopped vms",
    "how many guests are running", "which storage is fullest", "stop everything",
]


def messages(world: World) -> list[str]:
    """Return the bench messages bound to ``world`` (scenarios it cannot bind are left out)."""
    out = []
    for text in [s.say for s in load_scenarios()] + EXTRA:
        try:
            out.append(resolve_placeholders(text, world))
        except Unbound:
            continue
    return out


def bench(nodes: int, guests: int, repeat: int) -> dict[str, object]:
    """Build a world of this size and time every message on it."""
    state = sim_state(nodes, guests)
    started = time.perf_counter()
    world = World.from_state(state)
    build_ms = (time.perf_counter() - started) * 1000
    texts = messages(world)
    tools = set(ALL_TOOLS)
    best: dict[str, float] = {}
    for _ in range(repeat):
        for text in texts:
            started = time.perf_counter()
            interpret(text, world, tools=tools)
            spent = (time.perf_counter() - started) * 1e6
            best[text] = min(spent, best.get(text, spent))
    times = sorted(best.values())
    worst = max(best, key=best.__getitem__)
    return {
        "size": f"{nodes} nodes x {guests} guests", "build_ms": build_ms, "messages": len(texts),
        "median_us": statistics.median(times), "p95_us": times[int(0.95 * (len(times) - 1))],
        "max_us": times[-1], "worst": worst,
    }


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'world':26} {'from_state':>11} {'msgs':>5} {'median':>9} {'p95':>9} {'max':>9}  slowest message")
    for nodes, guests in ((4, 12), (50, 5000)):
        row = bench(nodes, guests, args.repeat)
        print(f"{row['size']:26} {row['build_ms']:9.1f}ms {row['messages']:5} {row['median_us']:7.0f}us "
              f"{row['p95_us']:7.0f}us {row['max_us']:7.0f}us  {row['worst']!r}")


if __name__ == "__main__":
    main()
