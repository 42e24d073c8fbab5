#!/usr/bin/env bash
# Installs what building and testing ehr-ledger needs on a Debian machine with
# Rust: Debian packages that are missing, and the rustfmt/clippy components.
# Safe to run again: it only installs what is not there.
set -euo pipefail

# cmake and libcurl headers: rdkafka builds librdkafka from source; libpq: diesel;
# postgresql-client: pg_isready and psql for the checks below.
APT_PACKAGES=(build-essential pkg-config cmake libcurl4-openssl-dev libpq-dev libssl-dev zlib1g-dev postgresql-client)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo was not found; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi

# PostgreSQL: use DATABASE_URL if given, else a server on 127.0.0.1:5432; install
# and start one when none answers.
if [ -z "${DATABASE_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "setup: no PostgreSQL answers on 127.0.0.1:5432; installing and starting one"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
  cluster=$(ls /etc/postgresql | sort -V | tail -n 1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || $SUDO pg_ctlcluster "$cluster" main start
  # Local development only: the postgres role gets the password "postgres".
  $SUDO -u postgres psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'"
  echo "setup: PostgreSQL started; use DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres"
fi

# The Kafka-protocol broker for tests and the local consortium (tansu, from crates.io).
if ! command -v tansu >/dev/null && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  echo "setup: installing the tansu broker (cargo install; about 8 minutes on 2 cores)"
  cargo install tansu@0.6.0 --locked --features dynostore
fi
