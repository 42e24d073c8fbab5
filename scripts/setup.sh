#!/usr/bin/env bash
# Installs what building, testing and running ehr-ledger needs on a Debian
# machine with Rust, Go and Java 17 (with Maven): Debian packages that are
# missing, Node.js with the portal's npm packages, the rustfmt/clippy
# components, PostgreSQL when none answers, and the
# engines into target/engines — CometBFT, Toxiproxy and go-ethereum's geth (go
# install from the Go module proxy) and Apache Kafka (its jars from Maven Central).
# Safe to run again: it only installs what is not there.
set -euo pipefail
cd "$(dirname "$0")/.."

# The engines' pinned versions (tests/src/cometbft.rs names the same CometBFT).
COMETBFT_VERSION=v0.38.26
KAFKA_VERSION=4.4.0
TOXIPROXY_VERSION=v2.5.0
GETH_VERSION=v1.17.10
HAPI_FHIR_VERSION=8.8.1
ENGINES=${EHR_ENGINES:-$PWD/target/engines}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# cmake and libcurl headers: rdkafka builds librdkafka from source (with OpenSSL
# and Cyrus SASL: libssl-dev, libsasl2-dev); openssl: PostgreSQL's certificate; libpq: diesel;
# postgresql-client: pg_isready and psql for the checks below; python3-cryptography:
# the independent implementation of the key wraps (docs/examples/wrap_key.py) a test runs;
# chromium: the portal's end-to-end tests drive it headless (playwright-core, no browser download).
APT_PACKAGES=(build-essential pkg-config cmake libcurl4-openssl-dev libpq-dev libssl-dev libsasl2-dev openssl zlib1g-dev postgresql-client python3-cryptography chromium)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Node.js and npm build and test the portal (portal/); the machine's own are used
# when present, Debian's otherwise.
if ! command -v npm >/dev/null; then
  echo "setup: installing Node.js and npm from Debian's packages (the portal's build and tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
if [ ! -d portal/node_modules ] || [ portal/package-lock.json -nt portal/node_modules ]; then
  echo "setup: installing the portal's npm packages (npm ci)"
  (cd portal && npm ci --no-audit --no-fund --loglevel=error)
fi
# solc (solc-js, pinned in contracts/package.json) compiles the Ethereum
# checkpoint contract; the test command checks contracts/out against it.
if [ ! -d contracts/node_modules ] || [ contracts/package-lock.json -nt contracts/node_modules ]; then
  echo "setup: installing solc for the contracts (npm ci)"
  (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
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
# and start one when none answers. Its postgres role then gets the password
# "postgres" (Debian asks TCP clients for one), which is the projects' default
# DATABASE_URL: postgres://postgres:postgres@127.0.0.1:5432/postgres.
if [ -z "${DATABASE_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "setup: no PostgreSQL answers on 127.0.0.1:5432; installing and starting one"
  dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
  cluster=$(ls /etc/postgresql | sort -V | tail -n 1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$cluster" main start 2>/dev/null ||
    $SUDO pg_ctlcluster "$cluster" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  # Local development only.
  (cd / && $SUDO runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'postgres'")
  echo "setup: PostgreSQL $cluster started on 127.0.0.1:5432"
fi

# PostgreSQL over TLS only: the local server gets a certificate for 127.0.0.1
# from an authority made here (its key deleted once it has signed), and
# refuses plaintext TCP connections (pg_hba "hostnossl … reject"). Clients
# check it with sslmode=verify-full against $ENGINES/postgres-tls/ca.pem:
# scripts/test.sh and scripts/run.sh put that in the default DATABASE_URL.
# Only the server this script manages; a DATABASE_URL given is used as it is.
PG_TLS="$ENGINES/postgres-tls"
pg_cluster=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 {print $1 " " $2 " " $6; exit}')
if [ -z "${DATABASE_URL:-}" ] && [ -n "$pg_cluster" ]; then
  read -r pg_version pg_name pg_data <<<"$pg_cluster"
  pg_conf="/etc/postgresql/$pg_version/$pg_name"
  pg_sql() { (cd / && $SUDO runuser -u postgres -- psql -qtA -c "$1"); }
  # Made again when the server's certificate is not one this folder's
  # authority signed (another checkout of the project set the server up).
  if [ ! -f "$PG_TLS/ca.pem" ] || [ "$(pg_sql 'SHOW ssl_cert_file')" != "$pg_data/ehr-server.pem" ] ||
    ! $SUDO openssl verify -CAfile "$PG_TLS/ca.pem" "$pg_data/ehr-server.pem" >/dev/null 2>&1; then
    echo "setup: giving PostgreSQL a TLS certificate ($PG_TLS/ca.pem signs it) and refusing plaintext"
    command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl
    mkdir -p "$PG_TLS"
    work=$(mktemp -d)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/O=ehr-ledger/CN=ehr-ledger local PostgreSQL CA" -keyout "$work/ca.key" -out "$work/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$work/ext"
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
      -days 825 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
    $SUDO install -o postgres -g postgres -m 600 "$work/server.key" "$pg_data/ehr-server.key"
    $SUDO install -o postgres -g postgres -m 644 "$work/server.pem" "$pg_data/ehr-server.pem"
    cp "$work/ca.pem" "$PG_TLS/ca.pem"
    rm -rf "$work"
    pg_sql "ALTER SYSTEM SET ssl = on"
    pg_sql "ALTER SYSTEM SET ssl_cert_file = '$pg_data/ehr-server.pem'"
    pg_sql "ALTER SYSTEM SET ssl_key_file = '$pg_data/ehr-server.key'"
  fi
  if ! $SUDO grep -q "^hostnossl all all 0.0.0.0/0 reject" "$pg_conf/pg_hba.conf"; then
    $SUDO sed -i '1i # ehr-ledger (scripts/setup.sh): TCP clients must use TLS.\nhostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject' "$pg_conf/pg_hba.conf"
  fi
  pg_sql "SELECT pg_reload_conf()" >/dev/null
fi

# The Go engines (CometBFT, geth, Toxiproxy) are built with a module and build
# cache of their own, removed when setup ends: about 2.4 GB that running
# them never needs, on a disk the test build already fills.
go_scratch=""
go_install() {
  if [ -z "$go_scratch" ]; then
    mkdir -p "$ENGINES"
    go_scratch=$(mktemp -d "$ENGINES/.go-scratch.XXXXXX")
    # Never the reason setup fails: what it installed stays installed.
    trap 'rm -rf "$go_scratch" || true' EXIT
  fi
  GOBIN="$ENGINES/bin" GOFLAGS="-buildvcs=false -modcacherw" \
    GOMODCACHE="$go_scratch/mod" GOCACHE="$go_scratch/build" go install "$1"
}

# CometBFT, the consensus engine: built from the Go module proxy.
if ! "$ENGINES/bin/cometbft" version 2>/dev/null | grep -qx "${COMETBFT_VERSION#v}"; then
  command -v go >/dev/null || { echo "setup: Go is needed to install CometBFT (go install); install Go 1.22 or newer" >&2; exit 1; }
  echo "setup: installing CometBFT $COMETBFT_VERSION into $ENGINES/bin (go install, about 2 minutes)"
  go_install "github.com/cometbft/cometbft/cmd/cometbft@$COMETBFT_VERSION"
  rm -f "$ENGINES/bin/abci-cli"
fi
# Its abci-cli (same version), whose kvstore over a socket is a baseline of
# the consensus benchmark.
if [ ! -x "$ENGINES/bin/abci-cli" ]; then
  go_install "github.com/cometbft/cometbft/abci/cmd/abci-cli@$COMETBFT_VERSION"
fi

# go-ethereum's geth: `geth --dev`, a one-process Ethereum, is the public chain
# the consortium checkpoints to in the tests and the main job.
if ! "$ENGINES/bin/geth" version 2>/dev/null | grep -q "^Version: ${GETH_VERSION#v}"; then
  echo "setup: installing go-ethereum's geth $GETH_VERSION into $ENGINES/bin (go install, a few minutes)"
  go_install "github.com/ethereum/go-ethereum/cmd/geth@$GETH_VERSION"
fi

# Toxiproxy (Shopify's), the wide-area links between the sites of the fault
# tests and `ehr-consortium --chaos`: latency, cuts and bandwidth on TCP.
if [ ! -x "$ENGINES/bin/toxiproxy-server-$TOXIPROXY_VERSION" ]; then
  echo "setup: installing Toxiproxy $TOXIPROXY_VERSION into $ENGINES/bin (go install)"
  go_install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$ENGINES/bin/server" "$ENGINES/bin/toxiproxy-server-$TOXIPROXY_VERSION"
  ln -sf "toxiproxy-server-$TOXIPROXY_VERSION" "$ENGINES/bin/toxiproxy-server"
fi

# Apache Kafka, the broker: its jars from Maven Central, run with Java 17.
if [ ! -f "$ENGINES/kafka/libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
  command -v mvn >/dev/null && command -v java >/dev/null ||
    { echo "setup: Java 17 and Maven are needed to install Apache Kafka; install openjdk-17-jdk-headless and maven" >&2; exit 1; }
  echo "setup: installing Apache Kafka $KAFKA_VERSION into $ENGINES/kafka/libs (Maven Central)"
  rm -rf "$ENGINES/kafka/libs"
  mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$ENGINES/kafka/libs" -DincludeScope=runtime
fi

# HAPI FHIR's R4 validator and generic client, the judges of the FHIR the
# project emits (tests/fhir/FhirCheck.java runs with them): jars from Maven Central.
if [ ! -f "$ENGINES/fhir/libs/hapi-fhir-validation-$HAPI_FHIR_VERSION.jar" ]; then
  command -v mvn >/dev/null && command -v java >/dev/null ||
    { echo "setup: Java 17 and Maven are needed for HAPI FHIR's validator; install openjdk-17-jdk-headless and maven" >&2; exit 1; }
  echo "setup: installing HAPI FHIR $HAPI_FHIR_VERSION (validator, client) into $ENGINES/fhir/libs (Maven Central)"
  rm -rf "$ENGINES/fhir/libs"
  mvn -q -B -f tests/fhir/pom.xml -Dhapi.version="$HAPI_FHIR_VERSION" dependency:copy-dependencies \
    -DoutputDirectory="$ENGINES/fhir/libs" -DincludeScope=runtime
fi

# schemathesis, the HTTP API fuzzer (with pytest, and ecdsa to sign requests),
# from PyPI into a virtual environment of the project's.
SCHEMATHESIS_VERSION=4.32.5
if ! "$ENGINES/py/bin/python" -c "import schemathesis, ecdsa, pytest; assert schemathesis.__version__ == '$SCHEMATHESIS_VERSION'" 2>/dev/null; then
  python3 -m venv "$ENGINES/py" 2>/dev/null || {
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    python3 -m venv "$ENGINES/py"
  }
  echo "setup: installing schemathesis $SCHEMATHESIS_VERSION into $ENGINES/py (PyPI)"
  "$ENGINES/py/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" "ecdsa==0.19.2" "pytest==9.2.0"
fi
