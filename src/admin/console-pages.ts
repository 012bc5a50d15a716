/**
 * The console's pages other than the dashboard: login, the message log, one message's trace and the
 * dead letters. Server-rendered like the dashboard (no script; one nonce'd inline style), every value
 * escaped by the `html` tag. Forms that change something carry the session's CSRF token.
 */
import { STYLE, html, trusted, when, type Html } from './html.js';

/** What /readyz computes; the dashboard's banner shows it. */
export interface Readiness {
  ready: boolean;
  failing: string[];
  /** Each check's result: `ok` or why not. */
  checks: Record<string, string>;
}

/** One row of the message log: metadata only, never content. */
export interface MessageRow {
  id: string;
  at: string;
  direction: string;
  kind: string;
  status: string;
  /** `PARTY/authority` of the sender and of the recipient. */
  from: string;
  to: string;
}

export interface MessagePage {
  items: MessageRow[];
  /** The cursor of the next page, when there is one. */
  next?: string | undefined;
}

/** One dead letter as the console lists it. */
export interface LetterRow {
  ref: string;
  at?: string | undefined;
  origin: string;
  code: string;
  messageId?: string | undefined;
  /** Why replay is refused for this letter; undefined when it may be replayed. */
  replayRefused?: string | undefined;
  resolved?: boolean | undefined;
}

/** The sources of the console pages, filled in by the composition root. */
export interface ConsoleSource {
  /** The message log; throws an AccordError for a bad filter. */
  messages?: (query: URLSearchParams) => Promise<MessagePage>;
  /** One message's trace (as `accord trace --json` prints it), or undefined when unknown. */
  trace?: (id: string) => Promise<unknown>;
  deadLetters?: {
    list(query: URLSearchParams): Promise<LetterRow[]>;
    /** Returns a one-line outcome; throws an AccordError when refused. `actor` is recorded. */
    replay(ref: string, actor: string): Promise<string>;
    /** `reason` is recorded with the drop (3 to 400 characters). */
    drop(ref: string, actor: string, reason: string): Promise<string>;
  };
}

/** The Content-Security-Policy of console pages: their own inline style, forms only to this server. */
export function consoleCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The frame of every console page: title, navigation and the logout button. */
export function layout(
  nonce: string,
  title: string,
  csrf: string | undefined,
  body: Html,
  head: Html | string = '',
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        ${head}
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>${title}</title>
        <style nonce="${nonce}">
          ${trusted(STYLE)}
        </style>
      </head>
      <body>
        <nav>
          <a href="/">Dashboard</a> · <a href="/messages">Message log</a> ·
          <a href="/dead-letters">Dead letters</a>
          ${
            csrf === undefined
              ? ''
              : html`<form method="post" action="/logout" class="inline">
                  <input type="hidden" name="csrf" value="${csrf}" />
                  <button type="submit" id="logout">Log out</button>
                </form>`
          }
        </nav>
        ${body}
      </body>
    </html> `.text;
}

export function renderLogin(nonce: string, error?: string): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="referrer" content="same-origin" />
        <title>Accord — log in</title>
        <style nonce="${nonce}">
          ${trusted(STYLE)}
        </style>
      </head>
      <body>
        <h1>Accord gateway console</h1>
        <form method="post" action="/login" id="login">
          <p>
            <label
              >Admin token
              <input type="password" name="token" autocomplete="current-password" required autofocus
            /></label>
          </p>
          ${error === undefined ? '' : html`<p class="bad" id="login-error">${error}</p>`}
          <p><button type="submit">Log in</button></p>
        </form>
        <p class="muted">
          The token is the one in <code>admin.tokenEnv</code> or <code>admin.tokenFile</code>. The session
          ends after 30 minutes without use, or when you log out.
        </p>
      </body>
    </html> `.text;
}

const FILTERS = ['id', 'authority', 'kind', 'status', 'direction', 'from', 'to'] as const;

export function renderMessages(
  nonce: string,
  csrf: string | undefined,
  query: URLSearchParams,
  result: MessagePage | undefined,
  error: string | undefined,
): string {
  const nextQuery = (cursor: string) => {
    const q = new URLSearchParams(query);
    q.set('cursor', cursor);
    return `/messages?${q.toString()}`;
  };
  const body = html`<h1>Message log</h1>
    <p class="muted">
      Metadata only (ids, kinds, authorities, status, times): the content never leaves the gateway's queues.
    </p>
    <form method="get" action="/messages" id="filter">
      ${FILTERS.map(
        (f) =>
          html`<label
            >${f} <input name="${f}" value="${query.get(f) ?? ''}" size="${f === 'id' ? 36 : 14}"
          /></label> `,
      )}
      <button type="submit">Search</button>
    </form>
    ${error === undefined ? '' : html`<p class="bad" id="query-error">${error}</p>`}
    ${
      result === undefined
        ? ''
        : html`<table id="messages">
              <tr>
                <th>time</th>
                <th>direction</th>
                <th>kind</th>
                <th>status</th>
                <th>from</th>
                <th>to</th>
                <th>message</th>
              </tr>
              ${
                result.items.length === 0
                  ? html`<tr>
                      <td colspan="7" class="muted">no message matches</td>
                    </tr>`
                  : result.items.map(
                      (m) =>
                        html`<tr data-message-id="${m.id}">
                          <td><time>${when(m.at)}</time></td>
                          <td>${m.direction}</td>
                          <td>${m.kind}</td>
                          <td>${m.status}</td>
                          <td>${m.from}</td>
                          <td>${m.to}</td>
                          <td>
                            <a href="/messages/${encodeURIComponent(m.id)}"><code>${m.id}</code></a>
                          </td>
                        </tr>`,
                    )
              }
            </table>
            ${result.next === undefined ? '' : html`<p><a id="next" href="${nextQuery(result.next)}">next page</a></p>`}`
    }`;
  return layout(nonce, 'Accord — message log', csrf, body);
}

export function renderTrace(nonce: string, csrf: string | undefined, id: string, trace: unknown): string {
  const body =
    trace === undefined
      ? html`<h1>Message <code>${id}</code></h1>
          <p class="bad">This gateway knows no message with this id.</p>`
      : html`<h1>Message <code>${id}</code></h1>
          <p class="muted">What <code>accord trace ${id}</code> shows.</p>
          <pre id="trace">${JSON.stringify(trace, null, 2)}</pre>`;
  return layout(nonce, `Accord — ${id}`, csrf, body);
}

export function renderDeadLetters(
  nonce: string,
  csrf: string | undefined,
  letters: LetterRow[],
  done: string | undefined,
): string {
  const action = (ref: string, verb: 'replay' | 'drop', enabled: boolean, title: string) =>
    html`<form method="post" action="/dead-letters/${ref}/${verb}" class="inline">
      <input type="hidden" name="csrf" value="${csrf ?? ''}" />
      ${
        verb === 'drop'
          ? html`<input name="reason" placeholder="why (recorded)" minlength="3" maxlength="400" required />`
          : ''
      }
      <button type="submit" data-action="${verb}" ${enabled ? '' : html`disabled title="${title}"`}>
        ${verb}
      </button>
    </form>`;
  const body = html`<h1>Dead letters</h1>
    ${done === undefined ? '' : html`<p id="outcome"><strong>${done}</strong></p>`}
    <table id="letters">
      <tr>
        <th>ref</th>
        <th>time</th>
        <th>from</th>
        <th>code</th>
        <th>message</th>
        <th>state</th>
        <th></th>
      </tr>
      ${
        letters.length === 0
          ? html`<tr>
              <td colspan="7" class="muted">no dead letters</td>
            </tr>`
          : letters.map(
              (l) =>
                html`<tr data-ref="${l.ref}" data-code="${l.code}">
                  <td><code>${l.ref}</code></td>
                  <td><time>${when(l.at)}</time></td>
                  <td>${l.origin}</td>
                  <td>${l.code}</td>
                  <td>
                    ${l.messageId === undefined ? '—' : html`<a href="/messages/${encodeURIComponent(l.messageId)}"><code>${l.messageId}</code></a>`}
                  </td>
                  <td>${l.resolved ? 'resolved' : 'open'}</td>
                  <td>
                    ${action(l.ref, 'replay', l.replayRefused === undefined, l.replayRefused ?? '')}
                    ${l.replayRefused === undefined ? '' : html`<span class="muted">${l.replayRefused}</span>`}
                    ${action(l.ref, 'drop', true, '')}
                  </td>
                </tr>`,
            )
      }
    </table>`;
  return layout(nonce, 'Accord — dead letters', csrf, body);
}
