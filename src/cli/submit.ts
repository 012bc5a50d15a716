/**
 * What every command that submits to the outbox shares (send, treaty suspend | resume | terminate,
 * directory announce): it submits as the sending authority's case system through the client
 * (connect.ts: the submit exchange, `user_id`, the urgent lane's priority, TLS) and, unless
 * `--no-wait`, waits for the gateway's answer on that authority's events queue and reports it:
 * exit 0 when accepted or a duplicate, 1 with `code: message (at path)` when rejected or when no
 * answer came within `--timeout`. The client takes only its own answer from the events queue and leaves
 * the rest to the authority's case system (ClientOptions.answersOnly).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { CaseSystemClient, NoAnswerError, type SubmissionInput } from '../client/index.js';
import { names, type Config } from '../config.js';
import { messageIdFor } from '../domain/ids.js';
import { validate } from '../domain/parse.js';
import { Submission } from '../domain/submission.js';
import { AccordError, ERROR_CODES } from '../errors.js';
import { brokerForSubmitter, SECRETS_HELP } from './broker-login.js';
import { EXIT_OK, EXIT_REFUSED } from './exit.js';

/** The options of a submitting command. */
export interface SubmitFlags {
  /** False with `--no-wait`. */
  wait: boolean;
  /** How long to wait for the answer, in seconds. */
  timeout: number;
  secrets?: string;
}

/** @defaultValue of `--timeout`, in seconds: the client's default wait. */
const DEFAULT_TIMEOUT_S = 30;

function seconds(value: string): number {
  const s = Number(value);
  if (!Number.isFinite(s) || s <= 0 || s > 3600) {
    throw new InvalidArgumentError('a number of seconds, more than 0 and at most 3600');
  }
  return s;
}

/** Add `--secrets`, `--timeout` and `--no-wait` to a submitting command. */
export function withSubmitOptions(command: Command): Command {
  return command
    .option('--secrets <file>', SECRETS_HELP)
    .option(
      '--timeout <seconds>',
      `how long to wait for the gateway's answer (default ${DEFAULT_TIMEOUT_S})`,
      seconds,
      DEFAULT_TIMEOUT_S,
    )
    .option(
      '--no-wait',
      'return once the broker has the submission, without waiting for the gateway’s answer',
    );
}

/**
 * Submit as the case system of the submission's `from` and print what became of it; `accepted` is
 * printed after the answer line (what happens next). Returns the exit code; throws what the caller
 * reports with reportError (an invalid submission, an unreachable broker).
 */
export async function submitAndReport(
  config: Config,
  submission: SubmissionInput,
  flags: SubmitFlags,
  accepted = '',
): Promise<number> {
  const sub = validate(Submission, submission, 'submission');
  if (!config.authorities.some((a) => a.id === sub.from)) {
    // The gateway would tell nobody (accord.dlq): say it here rather than wait for an answer.
    throw new AccordError('auth.unknown_authority', ERROR_CODES['auth.unknown_authority'], { path: 'from' });
  }
  const broker = brokerForSubmitter(config, sub.from, flags.secrets);
  const id = messageIdFor(config.party, sub.from, sub.idempotencyKey);
  const line = `${sub.kind} from ${sub.from} to ${sub.to.party}:${sub.to.authority}; message id ${id}`;
  const events = names(config.namespace).events(sub.from);
  const client = await CaseSystemClient.connect({
    url: broker.url,
    ...(broker.tls === undefined ? {} : { tls: broker.tls }),
    heartbeatS: broker.heartbeatS,
    ...(config.namespace === undefined ? {} : { namespace: config.namespace }),
    party: config.party,
    authority: sub.from,
    connectionName: `accord-cli-${sub.from}`,
    answersOnly: true,
  });
  const out = (text: string) => process.stdout.write(`${text}\n`);
  try {
    if (!flags.wait) {
      await client.submit(submission);
      out(`published: ${line}`);
      out(`Not waiting for the gateway's answer: ${events} says whether it was accepted.`);
      return EXIT_OK;
    }
    const result = await client.submitAndWait(submission, { timeoutMs: Math.round(flags.timeout * 1000) });
    switch (result.outcome) {
      case 'accepted':
        out(`accepted: ${line}`);
        if (accepted !== '') out(accepted);
        return EXIT_OK;
      case 'duplicate':
        out(`duplicate: ${line} (this idempotency key was submitted before: it is one message)`);
        return EXIT_OK;
      case 'rejected':
        process.stderr.write(
          `${result.code}: ${result.message ?? 'rejected'}${result.path === undefined ? '' : ` (at ${result.path})`}\n`,
        );
        return EXIT_REFUSED;
    }
  } catch (err) {
    if (!(err instanceof NoAnswerError)) throw err;
    process.stderr.write(
      `infra.unavailable: no answer from the gateway within ${flags.timeout} s. The submission (message id ${id}) is in ` +
        `the outbox and is decided when the gateway consumes it (is it running, or is the peer's broker unreachable? ` +
        `accord status shows the outbox and the peer link); the answer goes to ${events}.\n`,
    );
    return EXIT_REFUSED;
  } finally {
    await client.close();
  }
}
