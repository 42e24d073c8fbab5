#!/bin/sh
# Passwords made for this deployment, each in a file only its user reads:
# PostgreSQL's owner (for the one-shot database setup and the demo story), and
# each Kafka user (the broker itself, its admin, ingest, General's device
# gateway). Nothing is a default, nothing goes on a command line.
#   secrets.sh <postgres secrets folder> <kafka secrets folder> <ingest's> <devices'>
set -eu
db=$1 kafka=$2 ingest=$3 devices=$4
mkdir -p "$db" "$kafka" "$ingest" "$devices"
new() { [ -s "$1" ] || { umask 077; openssl rand -hex 24 >"$1"; }; }
new "$db/owner.password"
chown 999 "$db/owner.password"  # the postgres image's user reads it at first start
url="postgres://ehr:$(cat "$db/owner.password")@postgres:5432/ehr?sslmode=verify-full&sslrootcert=/public/ca.pem"
( umask 077; echo "$url" >"$db/owner.url" )
for user in broker admin ingest device-gateway; do new "$kafka/$user.password"; done
chown 1000 "$kafka"/*.password  # the apache/kafka image's user
( umask 077; cp "$kafka/ingest.password" "$ingest/kafka.password" )
( umask 077; cp "$kafka/device-gateway.password" "$devices/kafka.password" )
echo "secrets: made (or kept) in their volumes"
