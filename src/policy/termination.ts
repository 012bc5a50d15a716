/**
 * Art. 18(2): "this Agreement terminates six months after the date of receipt via diplomatic channels
 * of such written notice by the other Contracting Party." The gateways count from the peer gateway's
 * receipt of the signed `termination-notice` that mirrors the diplomatic note; where the note reached
 * the other party on another day, the text governs and the operators set that day with
 * `accord treaty termination-received --at DATE` (docs/treaty.md).
 */

/** Six calendar months after `receivedAt` (the last day of the month when that day does not exist). */
export function terminationEffective(receivedAt: string): string {
  const d = new Date(receivedAt);
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + 6);
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, last));
  return d.toISOString();
}
