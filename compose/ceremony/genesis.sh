#!/bin/sh
# The consortium's genesis, from public parts only: each hospital's admin
# public key and validator public key. Nothing secret is read or written.
#   genesis.sh <public folder> <org>...
set -eu
public=$1; shift
[ -f "$public/genesis.json" ] && { echo "genesis already made"; exit 0; }
args=""
for org in "$@"; do
  for f in validator.json node_id admin.pub; do
    [ -s "$public/$org/$f" ] || { echo "$org has not published $f" >&2; exit 1; }
  done
  args="$args --member $org=$org-hospital=$(cat "$public/$org/admin.pub")"
  args="$args --validator $(jq -r .value "$public/$org/validator.json")=10=$org"
done
# shellcheck disable=SC2086
ehr-node genesis --chain-id ehr-consortium $args --out "$public/genesis.json.tmp"
mv "$public/genesis.json.tmp" "$public/genesis.json"
