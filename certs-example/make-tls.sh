#!/usr/bin/env bash
# TEST-ONLY TLS material for the demo and the tests: a CA, a server certificate for the brokers
# (localhost, 127.0.0.1, and rabbitmq: the broker's name in docker-compose.yml) and client
# certificates for the two gateways (cz-gateway, kz-gateway).
# Every subject carries "Accord TEST-ONLY": the gateway refuses a CA with that mark under
# NODE_ENV=production. Never use these for real traffic.
#
#   bash certs-example/make-tls.sh [OUT_DIR]     (default: certs-example/tls)
set -euo pipefail
out="${1:-$(dirname "$0")/tls}"
mkdir -p "$out"
cd "$out"
org="/O=Accord TEST-ONLY/OU=demo"
days=825

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "$org/CN=Accord TEST-ONLY demo CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name CN extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$org/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue server localhost "subjectAltName=DNS:localhost,DNS:rabbitmq,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
for gw in cz-gateway kz-gateway; do
  issue "$gw" "$gw" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
done
chmod 600 ./*.key
rm -f ca.srl
echo "TEST-ONLY TLS material in $out: ca.crt, server.{crt,key}, cz-gateway.{crt,key}, kz-gateway.{crt,key}"
