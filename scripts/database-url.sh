# Sourced by scripts/test.sh and scripts/run.sh after scripts/setup.sh: the
# default DATABASE_URL is the local server setup manages, over TLS only,
# checked against the authority setup made for it. A DATABASE_URL given is
# kept as it is.
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert=${EHR_ENGINES:-$PWD/target/engines}/postgres-tls/ca.pem"
fi
