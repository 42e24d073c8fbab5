#!/bin/sh
# The consortium's certificate authority for this compose deployment, and a
# certificate for each service, each written into the volume of the party that
# runs it (its key readable by the uid that runs the service only). The CA's
# key stays in its own volume, mounted by this job alone; the CA certificate is
# published in the public volume (ca.pem), which every client trusts.
#   tls.sh <ca folder> <public folder> <name>:<folder>:<uid>:<host>[,<host>…] …
# A hospital with its own PKI skips this job and puts its files in the same places.
set -eu
ca=$1 public=$2; shift 2
if [ ! -f "$ca/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1825 \
    -subj "/O=ehr-ledger consortium/CN=ehr-ledger consortium CA" -keyout "$ca/ca.key" -out "$ca/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  chmod 600 "$ca/ca.key"
fi
cp "$ca/ca.pem" "$public/ca.pem"
for spec in "$@"; do
  name=${spec%%:*}; rest=${spec#*:}
  dir=${rest%%:*}; rest=${rest#*:}
  uid=${rest%%:*}; hosts=${rest#*:}
  mkdir -p "$dir"
  [ -f "$dir/$name.pem" ] && openssl verify -CAfile "$ca/ca.pem" "$dir/$name.pem" >/dev/null 2>&1 && continue
  san=$(echo "$hosts" | tr ',' '\n' | sed 's/^/DNS:/' | paste -sd, -)
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' "$san" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial \
    -days 397 -extfile "$dir/$name.ext" -out "$dir/$name.leaf" 2>/dev/null
  # The chain as servers send it: the certificate, then the authority's.
  cat "$dir/$name.leaf" "$ca/ca.pem" >"$dir/$name.pem"
  rm -f "$dir/$name.csr" "$dir/$name.ext" "$dir/$name.leaf"
  chown "$uid" "$dir/$name.key" "$dir/$name.pem"
  chmod 600 "$dir/$name.key"
  echo "tls: $name's certificate for $hosts in $dir"
done
