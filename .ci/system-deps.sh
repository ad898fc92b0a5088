#!/usr/bin/env bash
# Install the system packages Jarvis's demo or tests need, only when missing and only when
# we may (root, or passwordless sudo). Usage: system-deps.sh demo|test|venv|llm
set -euo pipefail
what=${1:-test}

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
case "$what" in
  venv) need+=(python3-venv) ;;
  llm) have c++ || need+=(g++); have cmake || need+=(cmake) ;;  # building llama-cpp-python
  demo) have mosquitto || need+=(mosquitto); have mosquitto_sub || need+=(mosquitto-clients) ;;
  test)
    have mosquitto || need+=(mosquitto)
    have mosquitto_rr || need+=(mosquitto-clients)
    have sshd || need+=(openssh-server)
    have ssh-keygen || need+=(openssh-client)
    have podman || need+=(podman)
    have runc || need+=(runc)
    [ -x /bin/busybox ] || need+=(busybox-static)
    ;;
  *) echo "usage: $0 demo|test|venv|llm" >&2; exit 2 ;;
esac
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
  echo "missing system packages: ${need[*]} (install them with apt-get, or run as root)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${need[*]}; this script knows only apt-get" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
  "${sudo[@]}" apt-get update -q >/dev/null
  "${sudo[@]}" apt-get install -y -q "${need[@]}" >/dev/null
}
# Debian starts mosquitto's system service on install where systemd runs; our tests never use it.
