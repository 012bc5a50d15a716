/**
 * docs/asyncapi.yaml: generated from the schemas, valid AsyncAPI 3.0 by the AsyncAPI parser, complete
 * (every queue, kind, event type and error code), and true to what the gateway really writes.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { parse as parseYaml } from 'yaml';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { DeadLetterSchema, InboxDeliverySchema } from '../src/domain/delivery.js';
import { EVENT_TYPES } from '../src/domain/events.js';
import { GATEWAY_ONLY, SUBMITTABLE } from '../src/domain/messages.js';
import { ERROR_CODES } from '../src/errors.js';
import { renderAsyncApi } from '../scripts/gen-asyncapi.js';
import { renderConfigDoc } from '../scripts/gen-config-doc.js';
import {
  ROOT,
  drainQueue,
  example,
  eventually,
  startPair,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';

const FILE = join(ROOT, 'docs', 'asyncapi.yaml');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Errors the AsyncAPI parser reports for a document. */
async function parserErrors(text: string): Promise<string[]> {
  const { diagnostics } = await new Parser().parse(text);
  return diagnostics
    .filter((d) => Number(d.severity) === Number(DiagnosticSeverity.Error))
    .map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
}

describe('docs/configuration.md', () => {
  it('is what `npm run schemas` generates now, and documents every key of the config schema', () => {
    const text = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    expect(text === renderConfigDoc(ROOT), 'docs/configuration.md is stale: run npm run schemas').to.equal(
      true,
    );
    for (const key of ['amqp.prefetch', 'policy.hooks[].timeoutMs', 'peer.authorities[].contact.email']) {
      expect(text).to.contain(`| \`${key}\` |`);
    }
    // The meaning comes from the doc comment on the key in src/config.ts.
    expect(text).to.match(/\| `amqp\.prefetch` \|.*\| Unacknowledged deliveries per consumer\. \|/);
  });
});

describe('docs/asyncapi.yaml', function () {
  this.timeout(60_000);
  const text = readFileSync(FILE, 'utf8');
  const doc = parseYaml(text) as Record<string, any>;

  it('is what `npm run schemas` generates now (run it after changing a schema)', () => {
    expect(text === renderAsyncApi(version), 'docs/asyncapi.yaml is stale: run npm run schemas').to.equal(
      true,
    );
  });

  it('is valid AsyncAPI 3.0 for the AsyncAPI parser — which does catch a broken document', async () => {
    expect(doc.asyncapi).to.equal('3.0.0');
    expect(await parserErrors(text)).to.deep.equal([]);
    const broken = structuredClone(doc);
    broken.operations.submit.channel = { $ref: '#/channels/nowhere' };
    expect(await parserErrors(JSON.stringify(broken))).to.not.be.empty;
  });

  it('names every queue, every message kind, every event type and every error code', () => {
    const n = names(undefined);
    const addresses = Object.values(doc.channels as Record<string, { address: string }>).map(
      (c) => c.address,
    );
    expect(addresses).to.include.members([
      n.outbox,
      n.ingress,
      n.dlq,
      n.inbox('{authorityId}'),
      n.events('{authorityId}'),
      n.review('{authorityId}'),
      n.exportQueue('{destination}'),
    ]);
    const outbox = Object.keys(doc.channels.outbox.messages as object);
    for (const kind of [...Object.keys(SUBMITTABLE), 'export', 'decision', 'oral-request']) {
      expect(outbox, kind).to.include(`submission-${kind}`);
    }
    const envelopeKinds = JSON.stringify(doc.components.schemas.envelope);
    for (const kind of [...Object.keys(SUBMITTABLE), ...Object.keys(GATEWAY_ONLY)]) {
      expect(envelopeKinds, kind).to.contain(`"${kind}"`);
    }
    for (const type of EVENT_TYPES) expect(text, type).to.contain(type);
    for (const code of Object.keys(ERROR_CODES)) expect(text, code).to.contain(`\`${code}\``);
  });

  describe('matches what the gateway writes', () => {
    let pair: Pair;
    let czIpc: TestAuthority;
    let kzNcb: TestAuthority;
    before(async () => {
      pair = await startPair();
      czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
      kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    });
    after(async () => {
      await pair.close();
    });

    it('an inbox delivery and a dead letter parse, strictly, with the documented schemas', async () => {
      const { messageId } = await czIpc.client.submit(
        example('travel-document', 'asyncapi-1') as SubmissionInput,
      );
      const got = await kzNcb.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'delivery');
      expect(InboxDeliverySchema.safeParse(got).error).to.equal(undefined);
      // No listed sender: the rejection can only go to the dead-letter queue.
      await czIpc.client.submitRaw(Buffer.from('{"kind":"request"}'));
      const letter = await eventually(
        async () => (await drainQueue(names(pair.czConfig.namespace).dlq))[0],
        10_000,
        'a dead letter',
      );
      expect(DeadLetterSchema.safeParse(JSON.parse(letter.toString('utf8'))).error).to.equal(undefined);
    });
  });
});
