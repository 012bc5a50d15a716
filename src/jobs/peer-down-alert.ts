/**
 * Alert when the peer link stays down for `alerts.peerDownAfterS` (a blip while reconnecting is not
 * worth a page), and resolve the alert when it is back.
 */
import type { EventEmitter } from 'node:events';
import type { Alerter } from '../admin/alerts.js';

/**
 * Watch the peer connection's `down`/`up` events, and its state now (a gateway that started while the
 * peer's broker was away counts it down from its start); returns the stopper.
 */
export function watchPeerLink(
  peer: EventEmitter & { readonly isUp: boolean },
  alerts: Alerter,
  afterS: number,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let downSince = 0;
  const down = () => {
    if (timer) return;
    downSince = Date.now();
    timer = setTimeout(() => {
      alerts.open('alert.peer_link_down', { downForS: Math.round((Date.now() - downSince) / 1000) });
    }, afterS * 1000);
    timer.unref();
  };
  peer.on('down', down);
  if (!peer.isUp) down();
  peer.on('up', () => {
    clearTimeout(timer);
    timer = undefined;
    alerts.resolve('alert.peer_link_down');
  });
  return () => clearTimeout(timer);
}
