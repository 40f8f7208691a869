#!/usr/bin/env bash
# Runs a command inside a private network namespace that has only loopback,
# so nothing a test sends (a SIP server sends where messages tell it) can
# leave the machine. Needs root (unshare --net); without it the command runs
# as is, with a warning.
set -euo pipefail
if [ "${SB_IN_NETNS:-}" = "1" ]; then
  exec "$@"
fi
if [ "$(id -u)" = "0" ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
  exec unshare --net -- env SB_IN_NETNS=1 bash -c 'ip link set lo up && exec "$@"' in-netns "$@"
fi
echo "in-netns: not root (or no unshare/ip): running without a private network namespace" >&2
exec "$@"
