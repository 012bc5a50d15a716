/**
 * Every environment variable Accord reads, with what it does: docs/configuration.md lists them
 * (scripts/gen-config-doc.ts), and a unit test fails when the code reads one that is not here.
 * Variables a config names itself (`admin.tokenEnv`, `keys.passphraseEnv`, `${NAME}` in any string) are
 * the operator's choice and not listed.
 */
export const ENVIRONMENT: readonly { name: string; readBy: string; meaning: string }[] = [
  {
    name: 'NODE_ENV',
    readBy: 'gateway, CLI',
    meaning:
      '`production` turns on the production checks: encrypted private keys, AOF on Redis, no test-only TLS material or identifier key, `amqps://` to the peer, no `--clock-offset`.',
  },
  {
    name: 'ACCORD_LOG_LEVEL',
    readBy: 'gateway, demo',
    meaning: 'The log level: `trace`, `debug`, `info` (the default), `warn`, `error`, `fatal` or `silent`.',
  },
  {
    name: 'ACCORD_AMQP_URL',
    readBy: 'shipped configs, demo, tests, bench',
    meaning: 'The local RabbitMQ (`amqp.url` of config/*.json); default `amqp://guest:guest@127.0.0.1:5672`.',
  },
  {
    name: 'ACCORD_PEER_AMQP_URL',
    readBy: 'shipped configs',
    meaning: 'The peer’s RabbitMQ (`peer.amqpUrl` of config/*.json); default the local one.',
  },
  {
    name: 'ACCORD_REDIS_URL',
    readBy: 'shipped configs, demo, tests, bench',
    meaning: 'Redis (`redis.url` of config/*.json); default `redis://127.0.0.1:6379`.',
  },
  {
    name: 'ACCORD_IDENTIFIER_KEY',
    readBy: 'shipped configs',
    meaning:
      'The key of the onward-transfer gate’s identifier hashes (`policy.identifierKey`); no default. Generate it with `openssl rand -base64 32`.',
  },
  {
    name: 'ACCORD_KEY_PASSPHRASE',
    readBy: 'CLI (`keys`, `envelope`)',
    meaning: 'The passphrase of an encrypted private key file, when `--passphrase-file` is not given.',
  },
  {
    name: 'ACCORD_DEMO_PREFIX',
    readBy: 'demo, example',
    meaning: 'The namespace prefix of the demo’s gateways (`demo`: namespaces `demo-cz`, `demo-kz`).',
  },
  {
    name: 'ACCORD_CHROMIUM',
    readBy: 'npm test (the dashboard’s browser test)',
    meaning:
      'The Chromium binary the browser test drives; default Debian’s `/usr/bin/chromium`, which `npm test` installs when run as root on Debian and missing.',
  },
  {
    name: 'ACCORD_FAULTS_DIR',
    readBy: 'gateway (set by `npm run chaos`)',
    meaning:
      'Turns on the fault points the chaos suite arms to stop a gateway inside a transfer (docs/reliability.md, "Fault points"); refused with `NODE_ENV=production`.',
  },
  {
    name: 'ACCORD_BENCH_NODE_ARGS',
    readBy: 'bench',
    meaning: 'Extra node flags for the gateway processes of `npm run bench`, e.g. `--cpu-prof`.',
  },
  {
    name: 'ACCORD_BENCH_ADMIN_TOKEN',
    readBy: 'bench (set by it)',
    meaning:
      'The admin token of the gateway processes `npm run bench` starts, a random one per run, set in their environment only: the bench reads their `/metrics` (CPU, broker messages and commits per message).',
  },
];
