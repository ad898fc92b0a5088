#!/usr/bin/env bash
# Build, once, the Home Assistant venv the HA tests run (tests/fixtures/homeassistant.py).
#
#   .ci/ha-setup.sh            build ${JARVIS_CACHE:-~/.cache/jarvis}/ha-venv if not ready
#   .ci/ha-setup.sh --print    also print the venv's path (for scripts)
#
# homeassistant 2025.4 needs Python >= 3.13: we use pyenv's 3.13.0 (or JARVIS_HA_PYTHON).
# Besides HA itself we pre-install the requirements of every integration the test instance
# loads, because the tests start HA with --skip-pip: it must never download anything.
# A stamp file (keyed on this script and the resolver) makes a second run instant; a lock
# lets parallel runs (other worktrees, CI) wait for one build instead of racing.
# Quiet when the venv is ready; one line before and after a build; the installer's log on failure.
set -euo pipefail

HA_VERSION=2025.4.4
# Domains the test configuration sets up besides HA's own defaults (see the fixture).
HA_DOMAINS=(mqtt api http logger)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${JARVIS_CACHE:-$HOME/.cache/jarvis}
venv=$cache/ha-venv
key=$(cat "$here/ha-setup.sh" "$here/ha-requirements.py" | cksum | cut -d' ' -f1)
stamp=$venv/.jarvis-ready-$HA_VERSION-$key

done_() { [[ "${1:-}" == "--print" ]] && echo "$venv"; exit 0; }
[[ -f "$stamp" ]] && done_ "$@"

python_ok() {  # usable interpreter: runs and is >= 3.13
    [[ -n "$1" && -x "$1" ]] && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null
}
find_python() {
    local pyenv_bin prefix candidate
    pyenv_bin=$(command -v pyenv || echo "${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv")
    prefix=$("$pyenv_bin" prefix 3.13.0 2>/dev/null || true)
    for candidate in \
        "${JARVIS_HA_PYTHON:-}" \
        "${prefix:+$prefix/bin/python3.13}" \
        "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3.13" \
        /root/.pyenv/versions/3.13.0/bin/python3.13 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13.*/bin/python3.13 \
        "$(command -v python3.13 || true)"; do
        if python_ok "$candidate"; then echo "$candidate"; return 0; fi
    done
    return 1
}

mkdir -p "$cache"
exec 9>"$cache/ha-venv.lock"
flock 9
[[ -f "$stamp" ]] && done_ "$@"  # another run built it while we waited

python=$(find_python) || {
    echo "ha-setup: no Python >= 3.13 found (homeassistant $HA_VERSION needs it)." >&2
    echo "  looked for: \$JARVIS_HA_PYTHON, \`pyenv prefix 3.13.0\`, ~/.pyenv/versions/3.13.*, python3.13" >&2
    echo "  install one (e.g. \`pyenv install 3.13.0\`) or set JARVIS_HA_PYTHON=/path/to/python3.13" >&2
    exit 1
}

log=$cache/ha-setup.log
started=$SECONDS
echo "ha-setup: building $venv (homeassistant $HA_VERSION, $("$python" -V)); a few minutes the first time" >&2
fail() {
    echo "ha-setup: $1 failed; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
}
rm -rf "$venv"
"$python" -m venv "$venv" >"$log" 2>&1 || fail "creating the venv"
# uv installs HA's ~170 packages about three times faster than pip here; pip is the fallback.
# Byte-compile at install: with PYTHONDONTWRITEBYTECODE=1 (set on these machines) HA would
# otherwise compile its ~8,000 modules on every start (15-20 s instead of a few).
if "$venv/bin/pip" install uv >>"$log" 2>&1; then
    install=("$venv/bin/uv" pip install --compile-bytecode --python "$venv/bin/python")
else
    install=("$venv/bin/pip" install)
fi
"${install[@]}" "homeassistant==$HA_VERSION" >>"$log" 2>&1 || fail "installing homeassistant"
constraints=$("$venv/bin/python" -c 'import homeassistant, pathlib
print(pathlib.Path(homeassistant.__file__).parent / "package_constraints.txt")')
{
    "$venv/bin/python" "$here/ha-requirements.py" "${HA_DOMAINS[@]}" >"$venv/jarvis-requirements.txt" &&
    "${install[@]}" -c "$constraints" -r "$venv/jarvis-requirements.txt" &&
    "$venv/bin/hass" --version
} >>"$log" 2>&1 || fail "installing the integrations' requirements"
touch "$stamp"
echo "ha-setup: ready in $((SECONDS - started)) s ($(du -sh "$venv" | cut -f1))" >&2
done_ "$@"
