#!/bin/sh
# A hospital makes its own CometBFT keys in its own volume, and publishes
# only their public parts: the validator's public key and the node id.
#   cometbft-keys.sh <its CometBFT home> <public folder> <org>
set -eu
home=$1 public=$2 org=$3
[ -f "$home/config/priv_validator_key.json" ] || cometbft init --home "$home" >/dev/null
mkdir -p "$public/$org"
cometbft show-validator --home "$home" > "$public/$org/validator.json"
cometbft show-node-id --home "$home" > "$public/$org/node_id"
echo "$org: CometBFT keys in its own volume; public parts in $public/$org"
