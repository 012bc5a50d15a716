/**
 * Art. 10(5), 18: the acts at a date. At a message's destruction deadline, and for every message with
 * personal data still held when the agreement terminates, a `destroy` order goes to the holding
 * authority's inbox and the confirmation's deadline starts (an alert when it passes). Orders carry ids,
 * authorities and dates — the data to destroy are the authority's, and never pass through here again.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, Names } from '../config.js';
import type { DestroyOrder } from '../domain/delivery.js';
import { DELIVERY_HEADER } from '../pipeline/dispatch.js';
import type { Deadline, Deadlines, Ledger, Publisher } from '../pipeline/ports.js';

export class DestructionOrders {
  constructor(
    private readonly deps: {
      config: Config;
      names: Names;
      ledger: Ledger;
      deadlines: Deadlines;
      local: Publisher;
      log: Logger;
      now: () => Date;
    },
  ) {}

  /** `destruction-due`: the provider's deadline for one message has come. */
  async deadline(d: Deadline): Promise<void> {
    const sent = await this.order(d.id, 'deadline', d.dueAt);
    if (sent)
      this.deps.log.info({ messageId: d.id, authority: d.authority }, 'destroy order sent (Art. 10(5))');
  }

  /** `termination-effective`: the agreement has ended; every message with personal data still held goes. */
  async termination(d: Deadline): Promise<void> {
    const ids = await this.deps.ledger.personalDataHeld();
    let sent = 0;
    for (const id of ids) if (await this.order(id, 'termination', d.dueAt)) sent++;
    this.deps.log.warn(
      { noticeId: d.id, held: ids.length, ordered: sent, code: 'treaty.terminated' },
      'Art. 18: the agreement has terminated; destroy orders sent for all personal data received',
    );
  }

  private async order(id: string, reason: DestroyOrder['reason'], dueAt: string): Promise<boolean> {
    const { ledger, deadlines, local, names, config } = this.deps;
    const rec = await ledger.getReceived(id);
    if (!rec || rec.state === 'destroyed' || !rec.personal) return false;
    const now = this.deps.now();
    const confirmBy = new Date(
      now.getTime() + config.dataProtection.destruction.confirmGraceHours * 3_600_000,
    ).toISOString();
    const order: DestroyOrder = {
      order: 'destroy',
      messageId: id,
      kind: rec.kind,
      from: { party: config.peer.party, authority: rec.fromAuthority },
      reason,
      dueAt,
      confirmBy,
      confirmWith: 'destruction-confirmed',
    };
    // The confirmation's deadline first: an order that went out is always followed up.
    await deadlines.schedule({
      kind: 'destruction-confirmation-due',
      id,
      authority: rec.authority,
      dueAt: confirmBy,
    });
    await local.publish(names.inbox(rec.authority), Buffer.from(JSON.stringify(order)), {
      contentType: 'application/json',
      messageId: id,
      type: 'destroy-order',
      headers: { [DELIVERY_HEADER]: randomUUID() },
    });
    return true;
  }
}
