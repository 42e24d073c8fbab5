#!/bin/sh
# One-off set-up of the four-hospital consortium in /consortium (a shared
# volume), run by the `init` service after `cometbft testnet` wrote the node
# folders: each hospital's admin key, the ledger's app_state in the genesis of
# every node, and proxy_app pointing each CometBFT at its hospital's ehr-node.
set -eu
root=/consortium
if [ -f "$root/.initialised" ]; then
  echo "consortium already initialised"; exit 0
fi
hospitals="general north south east"
args=""
i=0
for h in $hospitals; do
  EHR_HOME="$root/admins" ehr keys generate "admin-$h" >/dev/null
  key=$(EHR_HOME="$root/admins" ehr keys show "admin-$h" --json | jq -r .public_key)
  args="$args --member $h=$h-hospital=$key"
  i=$((i + 1))
done
# Validators of `cometbft testnet` are assigned to the hospitals in order.
# shellcheck disable=SC2086
ehr-node genesis --cometbft-genesis "$root/node0/config/genesis.json" $args --out "$root/genesis.json"
i=0
for h in $hospitals; do
  cp "$root/genesis.json" "$root/node$i/config/genesis.json"
  sed -i \
    -e "s|^proxy_app = .*|proxy_app = \"tcp://ehr-$h:26658\"|" \
    -e "s|^timeout_commit = .*|timeout_commit = \"1s\"|" \
    -e "s|^laddr = \"tcp://127.0.0.1:26657\"|laddr = \"tcp://0.0.0.0:26657\"|" \
    "$root/node$i/config/config.toml"
  i=$((i + 1))
done
# General Hospital's services; `story` registers them on chain.
EHR_HOME="$root/services" ehr keys generate ingest >/dev/null
EHR_HOME="$root/services" ehr keys generate gateway >/dev/null
touch "$root/.initialised"
echo "consortium initialised: admin keys in $root/admins/keys, service keys in $root/services/keys, genesis in $root/genesis.json"
