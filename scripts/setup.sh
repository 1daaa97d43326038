#!/usr/bin/env bash
# Installs what strata's demo and tests need on a fresh machine with Node 20 and npm:
# the npm packages (npm ci, which also builds the optional CRC-32C addon in native/) and, when it
# is missing, Debian's postgresql-15 (server, contrib,
# pg_waldump, pgbench). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/tsc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # A fresh checkout, or one whose dependencies changed since they were installed (npm ci also
  # builds the CRC-32C addon).
  npm ci --no-audit --no-fund
elif [ ! -f native/build/Release/strata_crc32c.node ] || [ native/crc32c.c -nt native/build/Release/strata_crc32c.node ]; then
  # The addon is missing (packages installed before it existed) or older than its source.
  node scripts/build-native.js
fi

pg_bindir=${STRATA_PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [ ! -x "$pg_bindir/pg_ctl" ] && ! command -v pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "strata: PostgreSQL 15 is missing; install it with: sudo apt-get install -y postgresql-15" >&2
    exit 1
  fi
  echo "strata: installing postgresql-15 from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
