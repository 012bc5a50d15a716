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
#   ACCORD_UID (default 1000) and RABBITMQ_UID (default 999) name the owners.
set -eu
seed=$1
volumes=$2
gateway_uid=${ACCORD_UID:-1000}
rabbitmq_uid=${RABBITMQ_UID:-999}

if [ ! -f "$seed/tls/ca.crt" ]; then
  echo "init-volumes: no TLS material in $seed/tls: run 'bash certs-example/make-tls.sh' first" >&2
  exit 1
fi

# put FILE DEST UID: DEST owned by UID, mode 600.
put() {
  install -o "$3" -g "$3" -m 600 "$1" "$2"
}

for party in cz kz; do
  if [ "$party" = cz ]; then peer=kz; else peer=cz; fi
  dir="$volumes/$party"
  for sub in keys audit tls; do
    install -d -o "$gateway_uid" -g "$gateway_uid" -m 700 "$dir/$sub"
  done
  if [ ! -e "$dir/keys/private.jwks.json" ]; then
    put "$seed/$party/private.jwks.json" "$dir/keys/private.jwks.json" "$gateway_uid"
    put "$seed/$peer/public.jwks.json" "$dir/keys/peer.jwks.json" "$gateway_uid"
    echo "init-volumes: $party keys copied in"
  fi
  put "$seed/tls/ca.crt" "$dir/tls/ca.crt" "$gateway_uid"
  put "$seed/tls/$party-gateway.crt" "$dir/tls/client.crt" "$gateway_uid"
  put "$seed/tls/$party-gateway.key" "$dir/tls/client.key" "$gateway_uid"
done

install -d -o "$rabbitmq_uid" -g "$rabbitmq_uid" -m 700 "$volumes/rabbitmq-tls"
for f in ca.crt server.crt server.key; do
  put "$seed/tls/$f" "$volumes/rabbitmq-tls/$f" "$rabbitmq_uid"
done
echo "init-volumes: TLS material copied in"
