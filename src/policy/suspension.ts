/**
 * Art. 17: "Either Contracting Party may suspend the implementation of this Agreement in full or
 * partially … The suspension of the implementation of this Agreement and the revocation of that
 * suspension shall become effective upon the lapse of fifteen days from the delivery of such
 * notification to the other Contracting Party."
 *
 * Both gateways keep the same list of notices, each effective fifteen days after the receiving
 * gateway took it in (the time in its signed receipt), and refuse requests in a suspended scope.
 * Everything else — replies, corrections, refusal notices — still flows.
 */
import type { CrimeCategory } from '../domain/categories.js';
import type { SuspensionNoticeBody } from '../domain/messages.js';

/** Fifteen days, from delivery of the notice to the other party. */
export const SUSPENSION_DELAY_MS = 15 * 86_400_000;

/** One notice as both gateways record it; `effectiveAt` is unknown until the receipt came. */
export interface SuspensionEntry {
  id: string;
  /** The party that notified it. */
  party: string;
  action: SuspensionNoticeBody['action'];
  scope: SuspensionNoticeBody['scope'];
  effectiveAt?: string;
}

/** Where the notices are kept (Redis in production). */
export interface SuspensionStore {
  put(entry: SuspensionEntry): Promise<void>;
  get(id: string): Promise<SuspensionEntry | undefined>;
  list(): Promise<SuspensionEntry[]>;
}

const covers = (scope: SuspensionEntry['scope'], category: CrimeCategory) =>
  scope === 'all' || scope.crimeCategories.includes(category);

/**
 * The notice that suspends a request with these crime categories now, if any: for each category the
 * latest effective notice that covers it decides.
 */
export function suspendedBy(
  entries: readonly SuspensionEntry[],
  categories: readonly CrimeCategory[],
  now: Date,
): SuspensionEntry | undefined {
  const effective = entries
    .filter((e) => e.effectiveAt !== undefined && Date.parse(e.effectiveAt) <= now.getTime())
    .sort((a, b) => Date.parse(a.effectiveAt!) - Date.parse(b.effectiveAt!));
  for (const category of categories) {
    const latest = effective.filter((e) => covers(e.scope, category)).at(-1);
    if (latest?.action === 'suspend') return latest;
  }
  return undefined;
}

/** When a notice received at `receivedAt` takes effect. */
export function effectiveFrom(receivedAt: string): string {
  return new Date(Date.parse(receivedAt) + SUSPENSION_DELAY_MS).toISOString();
}
