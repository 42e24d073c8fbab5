#!/bin/sh
# Starts a hospital's validator from its own keys and the public genesis:
# its own ehr-node as the application (over the Unix socket in the volume the
# two share, nothing else can reach it), the other hospitals as peers, its RPC
# over HTTPS with its certificate (tls.sh), trusting the consortium's CA.
#   start-cometbft.sh <its CometBFT home> <public folder> <tls folder> <org> <all orgs…>
set -eu
home=$1 public=$2 tls=$3 org=$4; shift 4
cp "$public/genesis.json" "$home/config/genesis.json"
peers=""
for other in "$@"; do
  [ "$other" = "$org" ] && continue
  peers="$peers${peers:+,}$(cat "$public/$other/node_id")@cmt-$other:26656"
done
sed -i \
  -e "s|^proxy_app = .*|proxy_app = \"unix:///abci/abci.sock\"|" \
  -e "s|^tls_cert_file = .*|tls_cert_file = \"$tls/cmt-$org.pem\"|" \
  -e "s|^tls_key_file = .*|tls_key_file = \"$tls/cmt-$org.key\"|" \
  -e "s|^persistent_peers = .*|persistent_peers = \"$peers\"|" \
  -e "s|^timeout_commit = .*|timeout_commit = \"1s\"|" \
  -e "s|^addr_book_strict = .*|addr_book_strict = false|" \
  -e "s|^laddr = \"tcp://127.0.0.1:26657\"|laddr = \"tcp://0.0.0.0:26657\"|" \
  "$home/config/config.toml"
SSL_CERT_FILE="$public/ca.pem" exec cometbft start --home "$home"
