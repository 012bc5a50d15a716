/**
 * Wire version 2, the crypto layer alone: the Merkle tree of a transfer (RFC 6962 hashing), sealing
 * several envelopes under one signature and opening them strictly, and each member's evidence
 * verifying on its own. No broker, no Redis.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as joseLib from 'jose';
import { generatePartyKeys } from '../src/crypto/keygen.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { auditPath, auditPaths, leafHash, merkleRoot, verifyInclusion } from '../src/crypto/merkle.js';
import { open, openAny } from '../src/crypto/open.js';
import { seal, sealTransfer } from '../src/crypto/seal.js';
import type { CryptoProfile } from '../src/crypto/profile.js';
import { expectCode } from './helpers/expect-code.js';

const profile: CryptoProfile = {
  signatureAlgs: ['ES256'],
  keyEncryptionAlgs: ['ECDH-ES+A256KW'],
  contentEncryptionAlgs: ['A256GCM'],
  maxMessageBytes: 256 * 1024,
};

const sha = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

describe('transfers (wire version 2): Merkle tree', () => {
  const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`m${i}`)));

  it('hashes leaves and nodes with the RFC 6962 prefixes', () => {
    const [a, b, c] = leaves(3);
    expect(leafHash(Buffer.from('m0')).equals(sha(Buffer.from([0]), Buffer.from('m0')))).to.equal(true);
    const ab = sha(Buffer.from([1]), a!, b!);
    // Three leaves split 2 + 1.
    expect(merkleRoot([a!, b!, c!]).equals(sha(Buffer.from([1]), ab, c!))).to.equal(true);
    expect(merkleRoot([a!]).equals(a!)).to.equal(true);
  });

  it('every leaf of trees of 1 to 33 leaves verifies by its audit path, and nothing else does', () => {
    for (let n = 1; n <= 33; n++) {
      const ls = leaves(n);
      const root = merkleRoot(ls);
      const all = auditPaths(ls);
      for (let i = 0; i < n; i++) {
        const path = auditPath(ls, i);
        expect(all[i]!.map((h) => h.toString('hex'))).to.deep.equal(path.map((h) => h.toString('hex')));
        expect(verifyInclusion(ls[i]!, i, n, path, root), `leaf ${i} of ${n}`).to.equal(true);
        // Another leaf, another index or another size does not verify.
        expect(verifyInclusion(leafHash(Buffer.from('x')), i, n, path, root)).to.equal(false);
        if (n > 1) expect(verifyInclusion(ls[i]!, (i + 1) % n, n, path, root)).to.equal(false);
        // A tampered path does not (the size itself is signed in the statement's count).
        if (path.length > 0) {
          const bent = [...path];
          bent[0] = leafHash(Buffer.from('bent'));
          expect(verifyInclusion(ls[i]!, i, n, bent, root)).to.equal(false);
        }
      }
    }
  });
});

describe('transfers (wire version 2): seal and open', () => {
  let czRing: KeyRing;
  let kzRing: KeyRing;
  let kzPublic: joseLib.JSONWebKeySet;
  let czSigningPublic: joseLib.JWK;
  let kzDecryptPrivate: joseLib.JWK;
  const members = [
    JSON.stringify({ id: 'a', body: 'first' }),
    JSON.stringify({ id: 'b', body: 'zweite — ü' }),
    JSON.stringify({ id: 'c', body: 'third' }),
  ];

  before(async () => {
    const cz = await generatePartyKeys('CZ');
    const kz = await generatePartyKeys('KZ');
    czRing = await KeyRing.fromSets(cz.privateSet, kz.publicSet);
    kzRing = await KeyRing.fromSets(kz.privateSet, cz.publicSet);
    kzPublic = kz.publicSet;
    const czKeys = (cz.publicSet as { keys: (joseLib.JWK & { use?: string })[] }).keys;
    czSigningPublic = czKeys.find((k) => k.use === 'sig')!;
    const kzKeys = (kz.privateSet as { keys: (joseLib.JWK & { use?: string })[] }).keys;
    kzDecryptPrivate = kzKeys.find((k) => k.use === 'enc')!;
    void kzPublic;
  });

  it('opens a sealed transfer with every member, its leaf and its audit path', async () => {
    const sealed = await sealTransfer(members, { createdAt: new Date().toISOString() }, czRing, profile);
    const opened = await openAny(sealed.jwe, kzRing, profile);
    if (!('transfer' in opened)) throw new Error('opened as a single message');
    const t = opened.transfer;
    expect(t.members).to.deep.equal(members);
    expect(t.leaves).to.deep.equal(sealed.leaves);
    expect(t.statement.root).to.equal(sealed.root);
    expect(t.statement.count).to.equal(3);
    expect(t.statement.transfer).to.equal(sealed.transfer);
    expect(opened.facts.signatureKid).to.equal(czRing.signingKey.kid);
    for (let i = 0; i < 3; i++) {
      const path = t.paths[i]!.map((h) => Buffer.from(h, 'hex'));
      const leaf = leafHash(Buffer.from(t.members[i]!, 'utf8'));
      expect(verifyInclusion(leaf, i, 3, path, Buffer.from(t.statement.root, 'hex'))).to.equal(true);
    }
  });

  it('still opens a single message (wire version 1) through the same entry', async () => {
    const jwe = await seal(Buffer.from(members[0]!), czRing, profile);
    const opened = await openAny(jwe, kzRing, profile);
    expect('payload' in opened && opened.payload.toString()).to.equal(members[0]);
  });

  it('a v1-only reader refuses a transfer by its content type, before decrypting', async () => {
    const sealed = await sealTransfer(members, { createdAt: new Date().toISOString() }, czRing, profile);
    await expectCode(open(sealed.jwe, kzRing, profile), 'crypto.header_invalid', 'jwe.cty');
  });

  it('one member’s evidence verifies on its own with a second JOSE implementation (jose)', async () => {
    const sealed = await sealTransfer(members, { createdAt: new Date().toISOString() }, czRing, profile);
    // The receiver's side, with `jose`: decrypt, then verify the statement with the sender's public key.
    const { plaintext, protectedHeader } = await joseLib.compactDecrypt(
      sealed.jwe,
      await joseLib.importJWK(kzDecryptPrivate, 'ECDH-ES+A256KW'),
    );
    expect(protectedHeader.cty).to.equal('accord-transfer+json');
    const body = JSON.parse(new TextDecoder().decode(plaintext)) as { statement: string; members: string[] };
    const { payload, protectedHeader: sh } = await joseLib.compactVerify(
      body.statement,
      await joseLib.importJWK(czSigningPublic, 'ES256'),
    );
    expect(sh.typ).to.equal('accord-transfer-root+jws');
    const statement = JSON.parse(new TextDecoder().decode(payload)) as { root: string; count: number };
    // Member 1 alone, with its path: no other member needed.
    const path = auditPath(
      body.members.map((m) => leafHash(Buffer.from(m, 'utf8'))),
      1,
    );
    const leaf = leafHash(Buffer.from(body.members[1]!, 'utf8'));
    expect(verifyInclusion(leaf, 1, statement.count, path, Buffer.from(statement.root, 'hex'))).to.equal(
      true,
    );
  });

  it('refuses a transfer whose members do not match the signed root', async () => {
    // A sender that signs one set of members and ships another: sealed with a forged body.
    const sealed = await sealTransfer(members, { createdAt: new Date().toISOString() }, czRing, profile);
    const other = await sealTransfer(
      [members[0]!, members[1]!, JSON.stringify({ id: 'c', body: 'swapped' })],
      { createdAt: new Date().toISOString() },
      czRing,
      profile,
    );
    // Decrypt both (as the receiver), and re-encrypt the first statement with the second's members.
    const open1 = await openAny(sealed.jwe, kzRing, profile);
    const open2 = await openAny(other.jwe, kzRing, profile);
    if (!('transfer' in open1) || !('transfer' in open2)) throw new Error('not transfers');
    const { encryptCompact, publicKeyOf } = await import('../src/crypto/native.js');
    const forged = encryptCompact(
      Buffer.from(
        JSON.stringify({ v: 2, statement: open1.transfer.statementJws, members: open2.transfer.members }),
      ),
      'ECDH-ES+A256KW',
      publicKeyOf(czRing.peerEncryptionKey),
      { kid: czRing.peerEncryptionKey.kid, typ: 'accord-message+jwe', cty: 'accord-transfer+json' },
    );
    await expectCode(openAny(forged, kzRing, profile), 'crypto.bad_signature', 'transfer.root');
  });

  it('refuses a malformed transfer body whole', async () => {
    const { encryptCompact, publicKeyOf } = await import('../src/crypto/native.js');
    const bad = encryptCompact(
      Buffer.from(JSON.stringify({ v: 2, statement: 'x', members: [], extra: 1 })),
      'ECDH-ES+A256KW',
      publicKeyOf(czRing.peerEncryptionKey),
      { kid: czRing.peerEncryptionKey.kid, typ: 'accord-message+jwe', cty: 'accord-transfer+json' },
    );
    await expectCode(openAny(bad, kzRing, profile), 'crypto.malformed', 'transfer');
  });
});
