/**
 * Console sessions: a person logs in once with the admin token and the browser keeps an HttpOnly,
 * SameSite=Strict cookie (Secure when the console is served over TLS) instead of the token. Sessions
 * live in this process's memory only: a restart logs everyone out, and nothing about them reaches Redis
 * or the logs. Each session has its own CSRF token, which every form that changes something carries.
 *
 * The cookie holds 32 random bytes; the store keeps only their SHA-256, so a heap dump does not give
 * away a live session. A session ends on logout, after `idleMs` without a request, or `maxMs` after
 * login, whichever comes first; at most `maxSessions` live at once (the oldest goes first).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const COOKIE = 'accord_session';

export interface SessionOptions {
  idleMs: number;
  maxMs: number;
  maxSessions: number;
  now?: () => number;
}

export interface Session {
  readonly csrf: string;
  readonly createdAt: number;
  lastSeen: number;
}

const digestOf = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64url');

/** Constant-time equality of two strings of any length (compared as SHA-256 digests). */
export function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** A new session: returns the cookie value (shown once, never stored) and the session. */
  create(): { id: string; session: Session } {
    this.sweep();
    while (this.sessions.size >= this.opts.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const session: Session = { csrf: randomBytes(24).toString('base64url'), createdAt: now, lastSeen: now };
    this.sessions.set(digestOf(id), session);
    return { id, session };
  }

  /** The live session for a cookie value, refreshed; undefined when unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id.length === 0 || id.length > 100) return undefined;
    const key = digestOf(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.lastSeen > this.opts.idleMs || now - s.createdAt > this.opts.maxMs) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  /** End a session (logout). */
  end(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(digestOf(id));
  }

  get size(): number {
    this.sweep();
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, s] of this.sessions) {
      if (now - s.lastSeen > this.opts.idleMs || now - s.createdAt > this.opts.maxMs) this.sessions.delete(k);
    }
  }
}

/**
 * Failed logins per client address: after `limit` failures within `windowMs`, further attempts from it
 * are refused (429) until the window has passed, so the token cannot be guessed at wire speed.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  /** Seconds until the address may try again, or 0 when it may now. */
  retryAfterS(address: string): number {
    const recent = this.recent(address);
    if (recent.length < this.limit) return 0;
    return Math.max(1, Math.ceil((recent[0]! + this.windowMs - this.now()) / 1000));
  }

  fail(address: string): void {
    const recent = this.recent(address);
    recent.push(this.now());
    // Bounded: a spray from many addresses must not grow memory without end.
    if (this.failures.size > 10_000) this.failures.clear();
    this.failures.set(address, recent.slice(-this.limit));
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string): number[] {
    const cutoff = this.now() - this.windowMs;
    return (this.failures.get(address) ?? []).filter((t) => t > cutoff);
  }
}

/** The cookie header values for a new session and for ending one. */
export function sessionCookie(id: string, maxAgeS: number, secure: boolean): string {
  return [
    `${COOKIE}=${id}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeS}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedCookie(secure: boolean): string {
  return [
    `${COOKIE}=`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    'Max-Age=0',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** The value of one cookie in a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
