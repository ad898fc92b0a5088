"""Benchmark the local test LLM: server start, time to first token, prompt and generation speed.

    .venv/bin/python bench/bench_local_llm.py [--runs 5]

Uses the llm venv of `.ci/llm-setup.sh` and starts the server exactly as the `local_llm` test
fixture does (tests/fixtures/llm.py). Every request carries a fresh random tag, so llama.cpp's
prefix cache never helps. Generation speed is completion tokens over the time after the first
token of a streamed answer; prompt speed is prompt tokens over the time of a one-token answer to
a ~400-token prompt. CPU seconds of the server process are shown too: this machine is shared,
so wall times move with the load average printed last. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import openai
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.llm import run_setup, start_server, stop_server  # noqa: E402

LONG_SYSTEM = "You are Jarvis, an assistant for a Proxmox homelab: nodes, guests, containers. " * 25


def streamed(client: openai.OpenAI, model: str) -> tuple[float, float, int]:
    """Return (time to first token, total time, content chunks) of a short streamed answer."""
    started = time.perf_counter()
    first = None
    chunks = 0
    stream = client.chat.completions.create(
        model=model, stream=True, max_tokens=32, temperature=0,
        messages=[{"role": "user", "content": f"[{uuid.uuid4().hex[:8]}] Say hello to the homelab."}],
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            chunks += 1
    end = time.perf_counter()
    return (first or end) - started, end - started, chunks


def prompt_speed(client: openai.OpenAI, model: str, proc: psutil.Process) -> tuple[float, float]:
    """Return prompt tokens per wall second and per server CPU second for a ~400-token prompt."""
    cpu = proc.cpu_times()
    started = time.perf_counter()
    reply = client.chat.completions.create(
        model=model, max_tokens=1, temperature=0,
        messages=[{"role": "system", "content": f"[{uuid.uuid4().hex[:8]}] {LONG_SYSTEM}"},
                  {"role": "user", "content": "hi"}],
    )
    wall = time.perf_counter() - started
    after = proc.cpu_times()
    used = (after.user + after.system) - (cpu.user + cpu.system)
    tokens = reply.usage.prompt_tokens if reply.usage else 0
    return tokens / wall, tokens / max(used, 1e-6)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    error = run_setup()
    if error:
        sys.exit(error)

    starts: list[float] = []
    ttft: list[float] = []
    totals: list[float] = []
    gen_rates: list[float] = []
    prompt_wall: list[float] = []
    prompt_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            server = start_server(Path(tmp) / f"server-{run}.log")
            try:
                starts.append(server.startup_s)
                client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=120)
                first, total, chunks = streamed(client, server.model)
                ttft.append(first)
                totals.append(total)
                if chunks > 1:
                    gen_rates.append((chunks - 1) / (total - first))
                wall_rate, cpu_rate = prompt_speed(client, server.model, psutil.Process(server.process.pid))
                prompt_wall.append(wall_rate)
                prompt_cpu.append(cpu_rate)
            finally:
                stop_server(server.process)

    med = statistics.median
    print(f"| measure (median of {args.runs}) | value |")
    print("| --- | --- |")
    print(f"| server start (spawn to /v1/models) | {med(starts):.2f} s |")
    print(f"| time to first token, short streamed answer | {med(ttft):.2f} s |")
    print(f"| total, 32-token streamed answer | {med(totals):.2f} s |")
    print(f"| generation | {med(gen_rates):.1f} tokens/s |")
    print(f"| prompt processing (~400 tokens) | {med(prompt_wall):.0f} tokens/s ({med(prompt_cpu):.0f} per CPU s) |")
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
