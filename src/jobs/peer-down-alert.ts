/**
 * Alert when the peer link stays down for `alerts.peerDownAfterS` (a blip while reconnecting is not
 * worth a page).
 */
import type { EventEmitter } from 'node:events';
import type { Alerts } from '../admin/alerts.js';

/** Watch the peer connection's `down`/`up` events; returns the stopper. */
export function watchPeerLink(peer: EventEmitter, alerts: Alerts, afterS: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  let downSince = 0;
  peer.on('down', () => {
    if (timer) return;
    downSince = Date.now();
    timer = setTimeout(() => {
      alerts.raise('alert.peer_link_down', { downForS: Math.round((Date.now() - downSince) / 1000) });
    }, afterS * 1000);
    timer.unref();
  });
  peer.on('up', () => {
    clearTimeout(timer);
    timer = undefined;
  });
  return () => clearTimeout(timer);
}
