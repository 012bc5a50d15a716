/**
 * The dashboard as one server-rendered HTML page: no script, no external asset, one inline style
 * allowed by a per-response CSP nonce, and a `<meta http-equiv=refresh>` to follow the traffic. Every
 * value goes through the `html` template tag, which escapes it; only fragments built by `html` itself
 * are inserted as they are.
 */
import type { Summary } from './dashboard.js';
import { layout } from './console-pages.js';
import { html, when, type Html } from './html.js';

/** Seconds between two automatic reloads of the page. */
export const REFRESH_S = 5;

function link(name: string, fact: string, l: Summary['peerLink']): Html {
  return html`<tr data-fact="${fact}">
    <th>${name}</th>
    <td class="${l.up ? 'up' : 'down'}" data-value="${l.up ? 'up' : 'down'}">${l.up ? 'up' : 'down'}</td>
    <td>since <time>${when(l.since)}</time></td>
  </tr>`;
}

const nothing = (cols: number, text: string) =>
  html`<tr>
    <td colspan="${cols}" class="muted">${text}</td>
  </tr>`;

const unavailable = html`<p class="bad">unavailable just now</p>`;

/** The whole page for one summary. */
export function renderDashboard(s: Summary, nonce: string, csrf?: string): string {
  const out = s.throughput.filter((t) => t.direction === 'out');
  const inbound = s.throughput.filter((t) => t.direction === 'in');
  const throughputTable = (rows: Summary['throughput']) =>
    rows.length === 0
      ? html`<p class="muted">nothing yet</p>`
      : html`<table>
          <tr>
            <th>kind</th>
            <th>outcome</th>
            <th class="count">messages</th>
          </tr>
          ${rows.map(
            (t) =>
              html`<tr data-key="${`${t.direction}/${t.kind}/${t.outcome}`}">
                <td>${t.kind}</td>
                <td>${t.outcome}</td>
                <td class="count">${t.count}</td>
              </tr>`,
          )}
        </table>`;
  const r = s.readiness;
  const banner =
    r === null
      ? html`<p id="banner" class="not-ready" data-ready="unknown">Readiness could not be read just now.</p>`
      : r.ready
        ? html`<p id="banner" class="ready" data-ready="true">Ready: every check passes.</p>`
        : html`<p id="banner" class="not-ready" data-ready="false">
            NOT READY — failing:
            ${r.failing.map((f, i) => html`${i > 0 ? ', ' : ''}<strong data-failing="${f}">${f}</strong> (${r.checks[f] ?? 'failing'})`)}
          </p>`;
  const body = html`${banner}
    <header>
      <h1>Accord gateway <span data-fact="party">${s.party}</span></h1>
      <p>
        As of <time data-fact="generated-at">${when(s.generatedAt)}</time>; reloads every ${REFRESH_S} s.
        ${s.unavailable.length > 0 ? html`<span class="bad">Not readable now: ${s.unavailable.join(', ')}.</span>` : ''}
      </p>
    </header>
    <main>
      <section id="links">
        <h2>Links</h2>
        <table>
          ${link('peer link', 'peer-link', s.peerLink)} ${link('local broker', 'local-broker', s.localBroker)}
        </table>
      </section>

      <section id="in-flight">
        <h2>In flight</h2>
        <p><span class="big" data-fact="in-flight">${s.inFlight}</span> sent, awaiting a receipt</p>
      </section>

      <section id="backlogs">
        <h2>Backlogs</h2>
        ${
          s.backlogs === null
            ? unavailable
            : html`<table>
                <tr>
                  <th>queue</th>
                  <th class="count">ready</th>
                  <th class="count">unacked</th>
                </tr>
                ${s.backlogs.map(
                  (b) =>
                    html`<tr data-queue="${b.queue}">
                      <td><code>${b.queue}</code></td>
                      <td class="count" data-ready>${b.ready ?? 'unknown'}</td>
                      <td class="count" data-unacked>${b.unacked ?? 'unknown'}</td>
                    </tr>`,
                )}
              </table>`
        }
      </section>

      <section id="failed">
        <h2>Failed and dead letters</h2>
        <table>
          <tr>
            <th>open in accord.dlq (<a href="/dead-letters">list</a>)</th>
            <td class="count ${s.failed.dlqDepth ? 'bad' : ''}" data-fact="dlq-depth">
              ${s.failed.dlqDepth ?? 'unknown'}
            </td>
          </tr>
          <tr>
            <th>no receipt after the last resend</th>
            <td class="count ${s.failed.noReceipt > 0 ? 'bad' : ''}" data-fact="failed">
              ${s.failed.noReceipt}
            </td>
          </tr>
        </table>
      </section>

      <section id="throughput-out">
        <h2>Sent to the peer (by outcome)</h2>
        ${throughputTable(out)}
      </section>

      <section id="throughput-in">
        <h2>Received from the peer (by outcome)</h2>
        ${throughputTable(inbound)}
      </section>

      <section id="refusals" class="wide">
        <h2>Recent refusals (Art. 9(4))</h2>
        <table>
          <tr>
            <th>time</th>
            <th>message</th>
            <th>grounds</th>
            <th>decided by</th>
          </tr>
          ${
            s.refusals.length === 0
              ? nothing(4, 'none since the gateway started')
              : s.refusals.map(
                  (r) =>
                    html`<tr data-message-id="${r.messageId}">
                      <td><time>${when(r.at)}</time></td>
                      <td><code>${r.messageId}</code></td>
                      <td>${r.grounds.join(', ')}</td>
                      <td>${r.decidedBy}</td>
                    </tr>`,
                )
          }
        </table>
      </section>

      <section id="reviews">
        <h2>Pending reviews</h2>
        ${
          s.reviews === null
            ? unavailable
            : html`<p>
                  <span class="big" data-fact="reviews-pending">${s.reviews.pending}</span> requests wait for
                  a decision
                </p>
                ${
                  s.reviews.ids.length > 0
                    ? html`<ul>
                        ${s.reviews.ids.map((id) => html`<li><code>${id}</code></li>`)}
                      </ul>`
                    : ''
                }`
        }
      </section>

      <section id="open-alerts" class="wide">
        <h2>Alerts open now</h2>
        ${
          s.openAlerts.length === 0
            ? html`<p class="muted" data-fact="open-alerts">none: every condition is clear</p>`
            : html`<table data-fact="open-alerts">
                <tr>
                  <th>since</th>
                  <th>alert</th>
                  <th>about</th>
                </tr>
                ${s.openAlerts.map(
                  (a) =>
                    html`<tr data-open-alert="${a.code}">
                      <td><time>${when(a.since)}</time></td>
                      <td class="bad">${a.code}</td>
                      <td>${a.subject ?? '—'}</td>
                    </tr>`,
                )}
              </table>`
        }
        ${
          s.clearedAlerts.length === 0
            ? ''
            : html`<h2>Cleared</h2>
                <table>
                  <tr>
                    <th>cleared</th>
                    <th>alert</th>
                    <th>open since</th>
                  </tr>
                  ${s.clearedAlerts.map(
                    (a) =>
                      html`<tr data-cleared-alert="${a.code}">
                        <td><time>${when(a.at)}</time></td>
                        <td>${a.code}</td>
                        <td><time>${when(a.since)}</time></td>
                      </tr>`,
                  )}
                </table>`
        }
      </section>

      <section id="alerts" class="wide">
        <h2>Recent alerts (overdue obligations, failed deliveries, peer down)</h2>
        <table>
          <tr>
            <th>time</th>
            <th>alert</th>
            <th>message</th>
            <th>authority</th>
          </tr>
          ${
            s.alerts.length === 0
              ? nothing(4, 'none since the gateway started')
              : s.alerts.map(
                  (a) =>
                    html`<tr data-alert="${a.code}">
                      <td><time>${when(a.at)}</time></td>
                      <td>
                        ${a.code}${a.obligation !== undefined ? html` <span class="muted">(${a.obligation})</span>` : ''}${
                          a.downForS !== undefined ? html` <span class="muted">(${a.downForS} s)</span>` : ''
                        }
                      </td>
                      <td>${a.messageId !== undefined ? html`<code>${a.messageId}</code>` : '—'}</td>
                      <td>${a.authority ?? '—'}</td>
                    </tr>`,
                )
          }
        </table>
      </section>

      <section id="keys">
        <h2>Keys</h2>
        ${s.keysUnusable === null ? '' : html`<p class="bad" data-fact="keys-unusable">${s.keysUnusable}</p>`}
        <table>
          <tr>
            <th>owner</th>
            <th>kid</th>
            <th>use</th>
            <th>state</th>
            <th>expires</th>
          </tr>
          ${s.keys.map(
            (k) =>
              html`<tr data-kid="${k.kid}">
                <td>${k.owner}</td>
                <td><code>${k.kid}</code></td>
                <td>${k.use}</td>
                <td class="${k.state === 'revoked' ? 'bad' : ''}">${k.state}</td>
                <td class="${k.daysLeft !== undefined && k.daysLeft < 0 ? 'bad' : ''}">
                  ${
                    k.exp === undefined
                      ? 'no expiry'
                      : html`${when(k.exp)} <span class="muted">(${k.daysLeft} d)</span>`
                  }
                </td>
              </tr>`,
          )}
        </table>
      </section>

      <section id="suspensions">
        <h2>Suspension (Art. 17)</h2>
        ${
          s.suspensions === null
            ? unavailable
            : html`<p data-fact="suspended-now">
                  ${
                    s.suspensions.suspendedNow.length === 0
                      ? 'Nothing is suspended.'
                      : html`<span class="bad">Suspended now: ${s.suspensions.suspendedNow.join(', ')}</span>`
                  }
                </p>
                ${
                  s.suspensions.notices.length === 0
                    ? ''
                    : html`<table>
                        <tr>
                          <th>notice</th>
                          <th>by</th>
                          <th>action</th>
                          <th>scope</th>
                          <th>effective</th>
                        </tr>
                        ${s.suspensions.notices.map(
                          (n) =>
                            html`<tr>
                              <td><code>${n.id}</code></td>
                              <td>${n.party}</td>
                              <td>${n.action}</td>
                              <td>${n.scope === 'all' ? 'all' : n.scope.join(', ')}</td>
                              <td>
                                ${n.effectiveAt === undefined ? 'awaiting receipt' : when(n.effectiveAt)}${
                                  n.effective ? '' : html` <span class="muted">(not yet)</span>`
                                }
                              </td>
                            </tr>`,
                        )}
                      </table>`
                }`
        }
      </section>
    </main>`;
  return layout(
    nonce,
    `Accord ${s.party} — gateway dashboard`,
    csrf,
    body,
    html`<meta http-equiv="refresh" content="${REFRESH_S}" />`,
  );
}
