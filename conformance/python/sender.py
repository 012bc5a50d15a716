#!/usr/bin/env python3
"""An independent sender for the Accord gateway-to-gateway protocol, version 1.

Written from docs/protocol.md and docs/schemas/envelope.schema.json only, with jwcrypto and pika
(Debian: python3-jwcrypto, python3-pika). It plays the sending gateway of one party: it builds one
`request` envelope, signs it (compact JWS), encrypts it for the peer (compact JWE), publishes it to the
peer's broker with the properties of section 1, provides its own ingress (where the peer's receipt
arrives, [P-AMQP-1] / [P-AMQP-2]), waits for the receipt, opens and checks it (sections 2 to 4) and
prints one line of JSON. Exit status: 0 on a verified `delivered` (or `duplicate`) receipt, 2 when no
valid receipt came within the timeout, 3 when a receipt for the message failed a check or had another
status, 1 on a usage or setup error.

Usage: sender.py --config CONFIG.json [--priority normal|urgent] [--timeout-s N] [--id UUID]
"""

import argparse
import base64
import datetime
import hashlib
import json
import re
import sys
import time
import uuid

try:
    import pika
    from jwcrypto import jwe, jwk, jws
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(json.dumps({"ok": False, "error": "missing-module", "detail": str(exc),
                      "hint": "apt-get install -y python3-jwcrypto python3-pika"}))
    sys.exit(1)

# Section 2: the profile.
JWE_TYP = "accord-message+jwe"
JWS_TYP = "accord-envelope+jws"
KEY_ALGS = ("ECDH-ES+A256KW", "RSA-OAEP-256")
SIG_ALGS = ("ES256", "PS256")
CONTENT_ENC = "A256GCM"
KID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
URGENT_PRIORITY = 9  # [P-AMQP-6]
COPY_HEADER = "x-accord-copy"  # [P-AMQP-5]
RECEIPT_OK = ("delivered", "duplicate")  # section 6: a sender treats `duplicate` as `delivered`


class Failure(Exception):
    """A check that failed, with a code in the style of docs/errors.md."""

    def __init__(self, code, detail):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# ---------------------------------------------------------------- encodings

def b64url_decode(part, what):
    """[P-JOSE-2]: canonical base64url without padding, or crypto.malformed."""
    if not B64URL_RE.match(part) or len(part) % 4 == 1:
        raise Failure("crypto.malformed", f"{what} is not base64url")
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    if b64url_encode(raw) != part:
        raise Failure("crypto.malformed", f"{what} is not canonical base64url")
    return raw


def b64url_encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rfc3339(ts):
    """RFC 3339 with offset, in UTC, milliseconds (the schema's date-time pattern)."""
    return ts.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ts.microsecond // 1000:03d}Z"


def parse_rfc3339(text, path):
    """An RFC 3339 date-time with offset, or schema.invalid at `path`."""
    try:
        value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise Failure("schema.invalid", path) from None
    if value.tzinfo is None:
        raise Failure("schema.invalid", path)
    return value


def header_of(part, what):
    raw = b64url_decode(part, f"{what} header")
    if len(raw) > 16 * 1024:  # [P-JOSE-8]
        raise Failure("crypto.header_invalid", f"{what}.header is over 16 KiB")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Failure("crypto.header_invalid", f"{what}.header is not JSON") from None
    if not isinstance(value, dict):
        raise Failure("crypto.header_invalid", f"{what}.header is not an object")
    return value


# ---------------------------------------------------------------- keys

def load_jwks(path):
    """A JWK set as Accord stores it: {"keys": [ ...JWKs with kid, use, alg... ]}."""
    with open(path, "r", encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise Failure("config.invalid", f"{path} is not a JWK set")
    keys = []
    for k in data["keys"]:
        if not isinstance(k, dict) or not KID_RE.match(str(k.get("kid", ""))):
            raise Failure("config.invalid", f"{path}: a key without a valid kid")
        if k.get("use") not in ("sig", "enc") or not k.get("alg"):
            raise Failure("config.invalid", f"{path}: key {k['kid']} lacks use or alg ([P-JOSE-10])")
        keys.append(k)
    return keys


def pick(keys, use, kid, what, private):
    """The one key of that use (or the one named by kid): [P-JOSE-9], [P-JOSE-10]."""
    found = [k for k in keys if k["use"] == use and (kid is None or k["kid"] == kid)]
    if private:
        found = [k for k in found if "d" in k]
    if len(found) != 1:
        raise Failure("config.invalid",
                      f"{what}: {len(found)} keys of use {use}{' and kid ' + kid if kid else ''};"
                      " name the one to use by its kid")
    return found[0]


def as_jwk(k):
    return jwk.JWK(**k)


# ---------------------------------------------------------------- sealing (section 2)

def seal(envelope, sig_key, peer_enc_key):
    """Sign then encrypt: compact JWS inside compact JWE ([P-JOSE-1])."""
    if sig_key["alg"] not in SIG_ALGS:
        raise Failure("crypto.alg_not_allowed", f"signing key alg {sig_key['alg']}")
    if peer_enc_key["alg"] not in KEY_ALGS:
        raise Failure("crypto.alg_not_allowed", f"peer encryption key alg {peer_enc_key['alg']}")
    payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signer = jws.JWS(payload)
    # [P-JOSE-6]: exactly alg, kid, typ; alg is the key's own ([P-JOSE-10]).
    signer.add_signature(as_jwk(sig_key), alg=sig_key["alg"],
                         protected=json.dumps({"alg": sig_key["alg"], "kid": sig_key["kid"],
                                               "typ": JWS_TYP}))
    inner = signer.serialize(compact=True)
    # [P-JOSE-4]: alg, enc, kid, typ, cty (+ epk, added by jwcrypto for ECDH-ES+A256KW).
    enc = jwe.JWE(plaintext=inner.encode("ascii"),
                  protected=json.dumps({"alg": peer_enc_key["alg"], "enc": CONTENT_ENC,
                                        "kid": peer_enc_key["kid"], "typ": JWE_TYP,
                                        "cty": JWS_TYP}))
    enc.add_recipient(as_jwk(peer_enc_key))
    sealed = enc.serialize(compact=True)
    check_own_seal(sealed, peer_enc_key)
    return sealed


def check_own_seal(sealed, peer_enc_key):
    """Our own output must be what the profile says, before it goes on the wire."""
    parts = sealed.split(".")
    if len(parts) != 5:
        raise Failure("internal.error", "sealed message is not 5 parts")
    for i, p in enumerate(parts):
        b64url_decode(p, f"jwe part {i}")
    h = header_of(parts[0], "jwe")
    want = {"alg", "enc", "kid", "typ", "cty"} | ({"epk"} if peer_enc_key["alg"].startswith("ECDH-ES") else set())
    if set(h) != want:
        raise Failure("internal.error", f"jwe header has {sorted(h)}, want {sorted(want)}")
    if "epk" in h and set(h["epk"]) != {"kty", "crv", "x", "y"}:
        raise Failure("internal.error", f"epk has {sorted(h['epk'])}")
    if len(b64url_decode(parts[2], "iv")) != 12 or len(b64url_decode(parts[4], "tag")) != 16:
        raise Failure("internal.error", "iv or tag size")


# ---------------------------------------------------------------- opening (sections 2, 3, 4)

def open_sealed(raw, own_keys, peer_keys, sig_algs, key_algs):
    """Open a sealed message addressed to us and return (envelope, facts)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise Failure("crypto.malformed", "non-ASCII body") from None
    text = text.rstrip(" \t\r\n")  # [P-JOSE-3]
    parts = text.split(".")
    if len(parts) != 5:
        raise Failure("crypto.malformed", "not a compact JWE of five parts")
    for i, p in enumerate(parts):
        b64url_decode(p, f"jwe part {i}")
    h = header_of(parts[0], "jwe")
    if h.get("alg") not in key_algs or h.get("enc") != CONTENT_ENC:
        raise Failure("crypto.alg_not_allowed", "jwe.alg/enc")
    want = {"alg", "enc", "kid", "typ", "cty"} | ({"epk"} if h["alg"].startswith("ECDH-ES") else set())
    for name in set(h) ^ want:
        raise Failure("crypto.header_invalid", f"jwe.{name}")
    if h["typ"] != JWE_TYP:
        raise Failure("crypto.header_invalid", "jwe.typ")
    if h["cty"] != JWS_TYP:
        raise Failure("crypto.header_invalid", "jwe.cty")
    if not isinstance(h["kid"], str) or not KID_RE.match(h["kid"]):
        raise Failure("crypto.header_invalid", "jwe.kid")
    if "epk" in h and (not isinstance(h["epk"], dict) or set(h["epk"]) != {"kty", "crv", "x", "y"}):
        raise Failure("crypto.header_invalid", "jwe.epk")
    dec_keys = [k for k in own_keys if k["use"] == "enc" and k["kid"] == h["kid"] and "d" in k]
    if not dec_keys:
        raise Failure("crypto.unknown_kid", f"jwe kid {h['kid']}")
    if dec_keys[0]["alg"] != h["alg"]:
        raise Failure("crypto.alg_not_allowed", "jwe.alg is not the key's alg")
    if not parts[1]:
        raise Failure("crypto.malformed", "empty encrypted key")
    if len(b64url_decode(parts[2], "iv")) != 12 or len(b64url_decode(parts[4], "tag")) != 16:
        raise Failure("crypto.decrypt_failed", "iv or tag size")
    try:
        outer = jwe.JWE()
        outer.allowed_algs = [h["alg"], CONTENT_ENC]
        outer.deserialize(text, key=as_jwk(dec_keys[0]))
        inner = outer.payload.decode("ascii")
    except Exception as exc:  # jwcrypto raises several types
        raise Failure("crypto.decrypt_failed", type(exc).__name__) from None

    iparts = inner.split(".")
    if len(iparts) != 3:
        raise Failure("crypto.malformed", "not a compact JWS of three parts")
    for i, p in enumerate(iparts):
        b64url_decode(p, f"jws part {i}")
    sh = header_of(iparts[0], "jws")
    if sh.get("alg") not in sig_algs:
        raise Failure("crypto.alg_not_allowed", "jws.alg")
    for name in set(sh) ^ {"alg", "kid", "typ"}:
        raise Failure("crypto.header_invalid", f"jws.{name}")
    if sh["typ"] != JWS_TYP:
        raise Failure("crypto.header_invalid", "jws.typ")
    if not isinstance(sh["kid"], str) or not KID_RE.match(sh["kid"]):
        raise Failure("crypto.header_invalid", "jws.kid")
    ver_keys = [k for k in peer_keys if k["use"] == "sig" and k["kid"] == sh["kid"]]
    if not ver_keys:
        raise Failure("crypto.unknown_kid", f"jws kid {sh['kid']}")
    if ver_keys[0]["alg"] != sh["alg"]:
        raise Failure("crypto.alg_not_allowed", "jws.alg is not the key's alg")
    try:
        verifier = jws.JWS()
        verifier.allowed_algs = [sh["alg"]]
        verifier.deserialize(inner)
        verifier.verify(as_jwk(ver_keys[0]), alg=sh["alg"])
        payload = verifier.payload
    except Exception as exc:
        raise Failure("crypto.bad_signature", type(exc).__name__) from None
    try:
        envelope = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Failure("input.not_json", "payload") from None
    if not isinstance(envelope, dict):
        raise Failure("schema.invalid", "envelope is not an object")
    facts = {"jweSha256": hashlib.sha256(text.encode("ascii")).hexdigest(),
             "jweKid": h["kid"], "jwsKid": sh["kid"], "alg": h["alg"], "sigAlg": sh["alg"]}
    return envelope, facts


ENVELOPE_MEMBERS = {"v", "id", "kind", "from", "to", "createdAt", "expiresAt", "priority",
                    "language", "handling", "body"}
RECEIPT_BODY = {"forMessageId", "jweSha256", "receivedAt", "status", "auditAnchor"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_receipt(env, sent, leeway_s):
    """Sections 3 and 4: the receipt for `sent` (our envelope and digest), or a Failure."""
    if set(env) != ENVELOPE_MEMBERS:
        raise Failure("schema.invalid", f"envelope members {sorted(set(env) ^ ENVELOPE_MEMBERS)}")
    if env["v"] != 1:
        raise Failure("schema.invalid", "v")
    if env["kind"] != "receipt":
        raise Failure("schema.invalid", f"kind {env['kind']!r} (not a receipt)")
    body = env["body"]
    if not isinstance(body, dict) or not set(body) <= RECEIPT_BODY or \
            not {"forMessageId", "jweSha256", "receivedAt", "status"} <= set(body):
        raise Failure("schema.invalid", "body")
    if body["status"] not in ("delivered", "duplicate", "refused", "in-review", "held"):
        raise Failure("schema.invalid", "body.status")
    if "auditAnchor" in body and not HEX64.match(str(body["auditAnchor"])):
        raise Failure("schema.invalid", "body.auditAnchor")
    mine = sent["envelope"]
    if body["forMessageId"] != mine["id"]:
        raise Failure("receipt.unknown_message", f"forMessageId {body['forMessageId']}")
    # [P-ENV-2], [P-RCPT-3], [P-RCPT-5]
    if env["to"] != mine["from"]:
        raise Failure("receipt.unknown_message", "to is not the sender of the message")
    if env["from"] != mine["to"]:
        raise Failure("receipt.unknown_message", "from is not the recipient of the message")
    if env["priority"] != mine["priority"]:
        raise Failure("schema.invalid", "priority differs from the message's ([P-RCPT-3])")
    if not HEX64.match(str(body["jweSha256"])) or body["jweSha256"] != sent["jweSha256"]:
        raise Failure("receipt.digest_mismatch", "jweSha256 is not the digest of the JWE sent")
    now = datetime.datetime.now(datetime.timezone.utc)
    created = parse_rfc3339(env["createdAt"], "createdAt")
    expires = parse_rfc3339(env["expiresAt"], "expiresAt")
    parse_rfc3339(body["receivedAt"], "body.receivedAt")
    leeway = datetime.timedelta(seconds=leeway_s)
    if created > now + leeway:  # [P-JOSE-13]
        raise Failure("envelope.not_yet_valid", "createdAt")
    if now > expires + leeway:
        raise Failure("envelope.expired", "expiresAt")
    return body


# ---------------------------------------------------------------- the envelope (section 3)

def build_request(cfg, msg_id, priority):
    now = datetime.datetime.now(datetime.timezone.utc)
    body = cfg.get("body") or {
        "crimeCategories": ["cybercrime"],
        "informationTypes": ["criminal-offences"],
        "summary": "Independent python sender: conformance request",
        "details": f"Sent by conformance/python/sender.py at {rfc3339(now)}.",
    }
    handling = cfg.get("handling") or {"purposes": ["combating-crime"], "conditions": [],
                                       "sensitive": []}
    return {
        "v": 1,
        "id": msg_id,
        "kind": "request",
        "from": cfg["from"],
        "to": cfg["to"],
        "createdAt": rfc3339(now),
        "expiresAt": rfc3339(now + datetime.timedelta(seconds=int(cfg.get("validityS", 7 * 86400)))),
        "priority": priority,
        "language": cfg.get("language", "en"),
        "handling": handling,
        "body": body,
    }


# ---------------------------------------------------------------- AMQP (section 1)

def names(ns):
    prefix = f"{ns}." if ns else ""
    return {"exchange": f"{prefix}accord.peer", "ingress": f"{prefix}accord.ingress"}


def declare_own_ingress(channel, ns, quorum):
    """[P-AMQP-1] for our side: the queue where the peer's receipts arrive."""
    n = names(ns)
    args = {"x-queue-type": "quorum"} if quorum else {"x-max-priority": 10}
    channel.queue_declare(queue=n["ingress"], durable=True, arguments=args)
    channel.exchange_declare(exchange=n["exchange"], exchange_type="direct", durable=True)
    channel.queue_bind(queue=n["ingress"], exchange=n["exchange"], routing_key=n["ingress"])
    return n["ingress"]


def publish(channel, peer_ns, sealed, envelope):
    """[P-AMQP-2..6, 8]: one copy, on a confirm channel; raises on nack, return or error."""
    n = names(peer_ns)
    props = pika.BasicProperties(
        content_type="application/jose",
        message_id=envelope["id"],
        delivery_mode=2,
        headers={COPY_HEADER: str(uuid.uuid4())},
        priority=URGENT_PRIORITY if envelope["priority"] == "urgent" else None,
        timestamp=int(time.time()),
    )
    channel.basic_publish(exchange=n["exchange"], routing_key=n["ingress"],
                          body=sealed.encode("ascii"), properties=props, mandatory=True)
    return props.headers[COPY_HEADER]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--priority", choices=["normal", "urgent"])
    ap.add_argument("--timeout-s", type=float)
    ap.add_argument("--id", help="message id (default: a fresh random UUID)")
    args = ap.parse_args(argv)

    result = {"ok": False}
    try:
        with open(args.config, "r", encoding="utf-8") as f:
            cfg = json.load(f)
        for member in ("peerAmqpUrl", "ownKeys", "peerKeys", "from", "to"):
            if member not in cfg:
                raise Failure("config.invalid", f"config lacks {member}")
        own_keys = load_jwks(cfg["ownKeys"])
        peer_keys = load_jwks(cfg["peerKeys"])
        sig_key = pick(own_keys, "sig", cfg.get("signingKid"), cfg["ownKeys"], private=True)
        peer_enc = pick(peer_keys, "enc", cfg.get("peerEncryptionKid"), cfg["peerKeys"], private=False)
        priority = args.priority or cfg.get("priority", "normal")
        timeout_s = args.timeout_s if args.timeout_s is not None else float(cfg.get("timeoutS", 60))
        resend_s = float(cfg.get("resendAfterS", 30))
        leeway_s = float(cfg.get("clockLeewayS", 300))
        msg_id = args.id or str(uuid.uuid4())

        envelope = build_request(cfg, msg_id, priority)
        sealed = seal(envelope, sig_key, peer_enc)  # sealed once: [P-DUP-1]
        sent = {"envelope": envelope, "jweSha256": hashlib.sha256(sealed.encode("ascii")).hexdigest()}
        result.update({"id": msg_id, "jweSha256": sent["jweSha256"], "priority": priority,
                       "sigKid": sig_key["kid"], "encKid": peer_enc["kid"]})

        # Our own ingress first, so that the receipt has somewhere to arrive.
        own_conn = pika.BlockingConnection(pika.URLParameters(cfg.get("ownAmqpUrl", cfg["peerAmqpUrl"])))
        own_ch = own_conn.channel()
        queue = names(cfg.get("ownNamespace", ""))["ingress"]
        if cfg.get("declareOwnIngress", True):
            declare_own_ingress(own_ch, cfg.get("ownNamespace", ""), cfg.get("quorum", False))

        peer_conn = pika.BlockingConnection(pika.URLParameters(cfg["peerAmqpUrl"]))
        peer_ch = peer_conn.channel()
        peer_ch.confirm_delivery()  # [P-AMQP-8]

        copies = []
        deadline = time.monotonic() + timeout_s
        next_send = time.monotonic()
        wait = resend_s
        ignored = []
        receipt = None
        while receipt is None:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                try:
                    copies.append(publish(peer_ch, cfg.get("peerNamespace", ""), sealed, envelope))
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                    raise Failure("delivery.publish_failed", type(exc).__name__) from None
                next_send = now + wait if wait > 0 else float("inf")
                wait *= 2  # [P-DUP-2]: back-off
            method, _props, body = own_ch.basic_get(queue=queue, auto_ack=False)
            if method is None:
                own_conn.sleep(0.1)
                continue
            own_ch.basic_ack(method.delivery_tag)
            try:
                env, facts = open_sealed(body, own_keys, peer_keys,
                                         cfg.get("signatureAlgs", ["ES256"]),
                                         cfg.get("keyEncryptionAlgs", ["ECDH-ES+A256KW"]))
            except Failure as exc:
                ignored.append(exc.code)  # not ours to answer ([P-ERR-1])
                continue
            if env.get("kind") != "receipt" or not isinstance(env.get("body"), dict) or \
                    env["body"].get("forMessageId") != msg_id:
                ignored.append(f"other:{env.get('kind')}")
                continue
            body = check_receipt(env, sent, leeway_s)  # raises Failure: exit 3
            receipt = {"id": env["id"], "status": body["status"], "receivedAt": body["receivedAt"],
                       "jweSha256": body["jweSha256"], "auditAnchor": body.get("auditAnchor"),
                       "from": env["from"], "jwsKid": facts["jwsKid"], "jweKid": facts["jweKid"]}
        peer_conn.close()
        own_conn.close()
        result.update({"copies": len(copies), "ignored": ignored})
        if receipt is None:
            result.update({"error": "delivery.no_receipt",
                           "detail": f"no valid receipt within {timeout_s:g} s"})
            print(json.dumps(result))
            return 2
        result["receipt"] = receipt
        if receipt["status"] not in RECEIPT_OK:
            result.update({"error": f"receipt.{receipt['status']}",
                           "detail": "receipt verified, but its status is not delivered"})
            print(json.dumps(result))
            return 3
        result["ok"] = True
        print(json.dumps(result))
        return 0
    except Failure as exc:
        result.update({"error": exc.code, "detail": exc.detail})
        print(json.dumps(result))
        return 1 if exc.code in ("config.invalid", "internal.error", "delivery.publish_failed") else 3
    except (OSError, ValueError, pika.exceptions.AMQPError) as exc:
        result.update({"error": "setup", "detail": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(result))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
