#!/bin/sh
# A hospital makes its admin's key in its own volume and publishes the public key.
#   admin-key.sh <its key folder (EHR_HOME)> <public folder> <org>
set -eu
keys=$1 public=$2 org=$3
EHR_HOME="$keys" ehr keys show "admin-$org" >/dev/null 2>&1 ||
  EHR_HOME="$keys" ehr keys generate "admin-$org" >/dev/null
mkdir -p "$public/$org"
EHR_HOME="$keys" ehr keys show "admin-$org" --json | jq -r .public_key > "$public/$org/admin.pub"
echo "$org: admin key in its own volume; public key in $public/$org/admin.pub"
