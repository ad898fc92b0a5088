# Two commands: `make demo` and `make test`. Everything else here is what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench system-deps llm-setup ha-venv clean

demo: $(STAMP)
	@.ci/system-deps.sh demo || echo "note: mosquitto not installed; the demo uses its embedded broker"
	$(BIN)/jarvis demo $(ARGS)

test: $(STAMP) llm-setup ha-venv
	.ci/system-deps.sh test
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; fi; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	.ci/typecheck

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/bench_publisher.py
	$(BIN)/python bench/bench_demo.py
	$(BIN)/python bench/bench_startup.py
	$(BIN)/python bench/bench_proxmox.py
	$(BIN)/python bench/bench_hub.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_security.py all
	$(BIN)/python bench/bench_context.py

$(STAMP):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { .ci/system-deps.sh venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

system-deps:
	.ci/system-deps.sh test

# The real local LLM the tests talk to (llama-cpp-python + SmolLM2), built once into ~/.cache/jarvis.
llm-setup:
	@.ci/llm-setup.sh

# Home Assistant 2025.4 for the HA tests, in its own Python 3.13 venv under ~/.cache/jarvis
# (built once, a few minutes; instant afterwards).
ha-venv:
	@.ci/ha-setup.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
