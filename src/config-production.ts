/**
 * What a configuration must hold beyond its schema: pure functions of (config, environment), so that
 * `accord start`, `accord config check` and the tests ask the same questions. Each answer is a list of
 * `path: message` issues, as the schema's are; none repeats a secret.
 *
 * - {@link transportIssues}, always: a broker connection with a `tls` section must be `amqps://`
 *   (amqplib picks TLS by the URL's scheme; with `amqp://` the TLS options would be silently unused).
 * - {@link productionIssues}, with `NODE_ENV=production`: the peer link is `amqps://`, and the identifier
 *   key is not test-only material (like the TEST-ONLY TLS material, src/transport/tls.ts).
 */

/** The parts of a config these checks read (structural, so that src/config.ts can call them). */
export interface CheckedConfig {
  amqp: { url: string; tls?: unknown };
  peer: { amqpUrl: string; tls?: unknown };
  policy: { identifierKey?: string | undefined };
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Marks of the shipped test-only identifier key (src/demo/config-pair.ts) and of keys written to look
 * like it; any key carrying one is refused in production.
 */
export const TEST_ONLY_KEY_MARKS = ['test-only', 'not-for-production', 'example', 'changeme'] as const;

/** The fewest characters of an identifier key (the schema's minimum, in every mode). */
export const MIN_IDENTIFIER_KEY_LENGTH = 32;

/**
 * The fewest different characters of a production identifier key: a random key of 32 hex digits has
 * about 14, one in base64 about 25; `aaaa…` or `abab…` is not random.
 */
const MIN_DISTINCT_CHARACTERS = 8;

/** How to make an identifier key, as the issues and docs/security.md say it. */
export const IDENTIFIER_KEY_HOWTO =
  'generate one with `openssl rand -base64 32` and set ACCORD_IDENTIFIER_KEY';

const isTls = (url: string) => /^amqps:\/\//i.test(url);

/** In every mode: a broker connection that has `tls` options uses them only over `amqps://`. */
export function transportIssues(c: CheckedConfig): string[] {
  const issues: string[] = [];
  if (c.amqp.tls !== undefined && !isTls(c.amqp.url)) {
    issues.push(
      'amqp.url: amqp.tls is set, so the URL must be amqps:// (with amqp:// the TLS options are unused)',
    );
  }
  if (c.peer.tls !== undefined && !isTls(c.peer.amqpUrl)) {
    issues.push(
      'peer.amqpUrl: peer.tls is set, so the URL must be amqps:// (with amqp:// the TLS options are unused)',
    );
  }
  return issues;
}

/** Whether the environment runs the gateway in production mode. */
export function isProduction(env: Env): boolean {
  return env.NODE_ENV === 'production';
}

/**
 * With `NODE_ENV=production`: the peer link is TLS (`amqps://`), and the identifier key is neither a
 * test-only key, nor shorter than {@link MIN_IDENTIFIER_KEY_LENGTH} characters, nor plainly not random.
 * Empty otherwise.
 */
export function productionIssues(c: CheckedConfig, env: Env): string[] {
  if (!isProduction(env)) return [];
  const issues: string[] = [];
  if (!isTls(c.peer.amqpUrl)) {
    issues.push(
      'peer.amqpUrl: with NODE_ENV=production the link to the peer gateway must be amqps:// (TLS, docs/security.md)',
    );
  }
  const problem = identifierKeyProblem(c.policy.identifierKey);
  if (problem !== undefined) {
    issues.push(
      `policy.identifierKey: ${problem}; refused with NODE_ENV=production: ${IDENTIFIER_KEY_HOWTO}`,
    );
  }
  return issues;
}

/** What is wrong with an identifier key for production use, if anything (never the key itself). */
export function identifierKeyProblem(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (key.length < MIN_IDENTIFIER_KEY_LENGTH) {
    return `the key is shorter than ${MIN_IDENTIFIER_KEY_LENGTH} characters`;
  }
  const lower = key.toLowerCase();
  if (TEST_ONLY_KEY_MARKS.some((m) => lower.includes(m))) return 'the key is test-only material';
  if (new Set(key).size < MIN_DISTINCT_CHARACTERS) return 'the key repeats too few characters to be random';
  return undefined;
}
