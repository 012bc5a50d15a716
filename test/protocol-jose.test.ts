/**
 * Requirements of docs/protocol.md's JOSE profile that no other test showed: the IV size, the size of
 * a protected header, the receipt digest over the JWE without the whitespace the wire boundary
 * ignores, and a retired peer key. Pure crypto: no broker, no Redis.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { withoutTrailingWhitespace } from '../src/crypto/compact.js';
import { generatePartyKeys } from '../src/crypto/keygen.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import type { CryptoProfile } from '../src/crypto/profile.js';
import { seal } from '../src/crypto/seal.js';
import { expectCode } from './helpers/expect-code.js';

const profile: CryptoProfile = {
  signatureAlgs: ['ES256'],
  keyEncryptionAlgs: ['ECDH-ES+A256KW'],
  contentEncryptionAlgs: ['A256GCM'],
  maxMessageBytes: 64 * 1024,
};

function replacePart(compact: string, index: number, value: string): string {
  const parts = compact.split('.');
  parts[index] = value;
  return parts.join('.');
}

describe('docs/protocol.md: the JOSE profile', () => {
  let kzRing: KeyRing;
  let jwe: string;
  let cz: Awaited<ReturnType<typeof generatePartyKeys>>;
  let kz: Awaited<ReturnType<typeof generatePartyKeys>>;

  before(async () => {
    cz = await generatePartyKeys('CZ');
    kz = await generatePartyKeys('KZ');
    const czRing = await KeyRing.fromSets(cz.privateSet, kz.publicSet);
    kzRing = await KeyRing.fromSets(kz.privateSet, cz.publicSet);
    jwe = await seal(Buffer.from(JSON.stringify({ v: 1 })), czRing, profile);
  });

  it('[P-JOSE-5] seals with a 96-bit IV, and refuses any other IV size as crypto.decrypt_failed', async () => {
    expect(Buffer.from(jwe.split('.')[2]!, 'base64url')).to.have.length(12);
    for (const bytes of [8, 16]) {
      const iv = Buffer.alloc(bytes, 7).toString('base64url');
      await expectCode(open(replacePart(jwe, 2, iv), kzRing, profile), 'crypto.decrypt_failed');
    }
  });

  it('[P-JOSE-8] refuses a protected header over 16 KiB as crypto.header_invalid at jwe.header', async () => {
    const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8')) as object;
    const big = Buffer.from(JSON.stringify({ ...header, pad: 'x'.repeat(16 * 1024) })).toString('base64url');
    await expectCode(open(replacePart(jwe, 0, big), kzRing, profile), 'crypto.header_invalid', 'jwe.header');
  });

  it('[P-JOSE-3] [P-RCPT-4] digests the compact JWE without the trailing whitespace the wire boundary ignores', async () => {
    const wire = Buffer.from(`${jwe} \t\r\n`);
    const { facts } = await open(withoutTrailingWhitespace(wire), kzRing, profile);
    expect(facts.jweSha256).to.equal(createHash('sha256').update(jwe, 'ascii').digest('hex'));
    expect(facts.jweSha256).not.to.equal(createHash('sha256').update(wire).digest('hex'));
  });

  it('[P-JOSE-11] refuses a message signed with a retired peer key as crypto.key_retired', async () => {
    const kid = cz.publicSet.keys.find((k) => k.use === 'sig')!.kid;
    const past = new Date(Date.now() - 3600_000).toISOString();
    for (const record of [{ state: 'retired' as const }, { state: 'active' as const, retireAt: past }]) {
      const ring = (await KeyRing.fromSets(kz.privateSet, cz.publicSet)).useState({
        keys: [{ kid, owner: 'peer', use: 'sig', ...record }],
      });
      const e = await expectCode(open(jwe, ring, profile), 'crypto.key_retired');
      expect(e.kid).to.equal(kid);
    }
  });
});
