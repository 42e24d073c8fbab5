#!/bin/sh
# Starts a hospital's validator from its own keys and the public genesis:
# its own ehr-node as the application, the other hospitals as peers.
#   start-cometbft.sh <its CometBFT home> <public folder> <org> <all orgs…>
set -eu
home=$1 public=$2 org=$3; shift 3
cp "$public/genesis.json" "$home/config/genesis.json"
peers=""
for other in "$@"; do
  [ "$other" = "$org" ] && continue
  peers="$peers${peers:+,}$(cat "$public/$other/node_id")@cmt-$other:26656"
done
sed -i \
  -e "s|^proxy_app = .*|proxy_app = \"tcp://ehr-$org:26658\"|" \
  -e "s|^persistent_peers = .*|persistent_peers = \"$peers\"|" \
  -e "s|^timeout_commit = .*|timeout_commit = \"1s\"|" \
  -e "s|^addr_book_strict = .*|addr_book_strict = false|" \
  -e "s|^laddr = \"tcp://127.0.0.1:26657\"|laddr = \"tcp://0.0.0.0:26657\"|" \
  "$home/config/config.toml"
exec cometbft start --home "$home"
