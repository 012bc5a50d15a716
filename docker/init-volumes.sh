#!/bin/sh
# Fills the named volumes of docker-compose.yml before RabbitMQ and the gateways start (its one-shot
# service `volumes`, run as root): copies the material mounted read-only from the host into the
# volumes, each file owned by the user that reads it and readable by no one else. A file mounted
# straight from the host keeps the host's owner and mode, which neither the gateway (uid 1000, `node`
# in Node's image; it refuses keys others can read) nor RabbitMQ (uid 999, `rabbitmq` in its image)
# could read.
#
# Keys are copied once, into an empty keys volume: from then on the volume's copy is the live one
# (rotations write the private set, announced peer keys are pinned into peer.jwks.json, and
# key-state.json beside them holds the revocations), so a restart never puts old keys back. TLS
# material is copied on every run: the host's copy is the one that gets renewed.
#
#   init-volumes.sh SEED VOLUMES
#     SEED     laid out like certs-example/: cz/ and kz/ with private.jwks.json and public.jwks.json,
#              tls/ as `bash certs-example/make-tls.sh` writes it
#     VOLUMES  where the volumes are mounted: VOLUMES/cz/{keys,audit,tls}, VOLUMES/kz/{keys,audit,tls}
#              (a gateway's /var/lib/accord/{keys,audit,tls}) and VOLUMES/rabbitmq-tls (RabbitMQ's
#              /etc/rabbitmq/tls)
#   ACCORD_OWNER (default 1000:1000) and RABBITMQ_OWNER (default 999:999) name the owners, uid:gid.
set -eu
seed=$1
volumes=$2
gateway=${ACCORD_OWNER:-1000:1000}
rabbitmq=${RABBITMQ_OWNER:-999:999}

if [ ! -f "$seed/tls/ca.crt" ]; then
  echo "init-volumes: no TLS material in $seed/tls: run 'bash certs-example/make-tls.sh' first" >&2
  exit 1
fi

# dir DIR OWNER: the folder DIR, owned by OWNER (uid:gid), mode 700.
dir() {
  install -d -o "${2%%:*}" -g "${2#*:}" -m 700 "$1"
}
# put FILE DEST OWNER: a copy of FILE at DEST, owned by OWNER (uid:gid), mode 600.
put() {
  install -o "${3%%:*}" -g "${3#*:}" -m 600 "$1" "$2"
}

for party in cz kz; do
  if [ "$party" = cz ]; then peer=kz; else peer=cz; fi
  at="$volumes/$party"
  for sub in keys audit tls; do dir "$at/$sub" "$gateway"; done
  if [ ! -e "$at/keys/private.jwks.json" ]; then
    put "$seed/$party/private.jwks.json" "$at/keys/private.jwks.json" "$gateway"
    put "$seed/$peer/public.jwks.json" "$at/keys/peer.jwks.json" "$gateway"
    echo "init-volumes: $party keys copied in"
  fi
  put "$seed/tls/ca.crt" "$at/tls/ca.crt" "$gateway"
  put "$seed/tls/$party-gateway.crt" "$at/tls/client.crt" "$gateway"
  put "$seed/tls/$party-gateway.key" "$at/tls/client.key" "$gateway"
done

dir "$volumes/rabbitmq-tls" "$rabbitmq"
for f in ca.crt server.crt server.key; do put "$seed/tls/$f" "$volumes/rabbitmq-tls/$f" "$rabbitmq"; done
echo "init-volumes: TLS material copied in"
