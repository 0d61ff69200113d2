/**
 * `herald parked list|show|retry|skip`: parked events of subscriptions (`--subscription`) and
 * failed messages of consumers (`--consumer`). Retries and skips are requests the process that
 * runs the work carries out; the command waits for the outcome (`--no-wait` to only request).
 */
import { createInterface } from 'node:readline/promises';
import type { Herald } from '../../herald.js';
import type { MessageFilter, ParkedMessage } from '../../consumers/operator.js';
import type { ParkedEvent, ParkedFilter } from '../../parking/index.js';
import { CommandFailed, NotFoundError, UsageError } from '../exit.js';
import { json, Progress, table, type Output } from '../output.js';
import { oneContext, parse, type Session, wholeNumber, withApp } from '../session.js';
import type { Command } from './command.js';

const OPTIONS = {
  subscription: { type: 'string' },
  consumer: { type: 'string' },
  type: { type: 'string' },
  stream: { type: 'string' },
  fingerprint: { type: 'string' },
  status: { type: 'string', multiple: true },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  reason: { type: 'string' },
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
} as const;

export const parked: Command = {
  name: 'parked',
  summary: 'list, show, retry or skip parked events and failed consumer messages (one, or all on a filter)',
  usage: `herald parked list [--subscription S | --consumer C] [--type T] [--stream ID] [--fingerprint F] [--status S]… [--since ISO] [--until ISO] [--limit N]
  herald parked show (--subscription S <event number> | --consumer C <message key>)
  herald parked retry (--subscription S <event number> | --consumer C <message key>) [--no-wait] [--timeout MS]
  herald parked skip  (--subscription S <event number> | --consumer C <message key>) --reason TEXT
  herald parked retry|skip --all [filters as for list] [--dry-run] [--yes] [--reason TEXT]`,
  options: OPTIONS,
  async run(args, output) {
    const session = parse(args, OPTIONS, output);
    const [action, target] = session.positionals;
    if (session.values.subscription && session.values.consumer) throw new UsageError('name a --subscription or a --consumer, not both');
    await withApp(session, async (app) => {
      const herald = app.herald(oneContext(session, app));
      if (action === 'list') return list(session, herald);
      if (action === 'show') return show(session, herald, target);
      if (action === 'retry' || action === 'skip') return session.values.all ? bulk(session, herald, action) : one(session, herald, action, target);
      throw new UsageError(`usage: ${parked.usage}`);
    });
  },
};

function filterOf(session: Session): ParkedFilter & MessageFilter {
  const v = session.values;
  const date = (name: string) => {
    const text = v[name] as string | undefined;
    if (text === undefined) return undefined;
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be a date/time (ISO 8601), got ${JSON.stringify(text)}`);
    return d;
  };
  return {
    subscription: v.subscription as string | undefined,
    consumer: v.consumer as string | undefined,
    eventType: v.type as string | undefined,
    streamId: v.stream as string | undefined,
    fingerprint: v.fingerprint as string | undefined,
    status: v.status as never,
    since: date('since'),
    until: date('until'),
  };
}

async function list(session: Session, herald: Herald): Promise<void> {
  const limit = session.values.limit ? wholeNumber('--limit', session.values.limit as string) : 100;
  const { consumer, subscription, ...rest } = filterOf(session);
  if (consumer !== undefined) {
    const rows = await herald.parkedMessages.list({ ...rest, consumer }, { limit });
    return print(session.output, session.json, rows, messageColumns);
  }
  const rows = await herald.parked.list({ ...rest, subscription }, { limit });
  print(session.output, session.json, rows, eventColumns);
}

const eventColumns = [
  { header: 'subscription', value: (e: ParkedEvent) => e.subscription },
  { header: 'event', value: (e: ParkedEvent) => e.eventNumber, right: true },
  { header: 'type', value: (e: ParkedEvent) => e.eventType },
  { header: 'stream', value: (e: ParkedEvent) => e.streamId },
  { header: 'status', value: (e: ParkedEvent) => e.status },
  { header: 'attempts', value: (e: ParkedEvent) => e.attempts.length, right: true },
  { header: 'last failed', value: (e: ParkedEvent) => e.lastFailedAt },
  { header: 'error', value: (e: ParkedEvent) => e.error.message },
];

const messageColumns = [
  { header: 'consumer', value: (m: ParkedMessage) => m.consumer },
  { header: 'key', value: (m: ParkedMessage) => m.key },
  { header: 'type', value: (m: ParkedMessage) => m.eventType },
  { header: 'stream', value: (m: ParkedMessage) => m.streamId },
  { header: 'status', value: (m: ParkedMessage) => m.status },
  { header: 'attempts', value: (m: ParkedMessage) => m.attemptCount, right: true },
  { header: 'last failed', value: (m: ParkedMessage) => m.lastFailedAt },
  { header: 'error', value: (m: ParkedMessage) => m.error.message ?? m.reason },
];

function print<Row>(output: Output, asJson: boolean, rows: readonly Row[], columns: Parameters<typeof table<Row>>[1]): void {
  if (asJson) output.out(json(rows));
  else output.out(rows.length === 0 ? 'nothing parked matches' : table(rows, columns));
}

async function find(session: Session, herald: Herald, target: string | undefined): Promise<ParkedEvent | ParkedMessage> {
  const { subscription, consumer } = filterOf(session);
  if (!target) throw new UsageError('name the event number (with --subscription) or the message key (with --consumer)');
  if (consumer) {
    const rows = await herald.parkedMessages.list({ consumer, status: ALL_MESSAGE_STATUSES as never }, { limit: 10_000 });
    const found = rows.find((m) => m.key === target);
    if (!found) throw new NotFoundError(`consumer '${consumer}' has no stored message '${target}'`);
    return found;
  }
  if (!subscription) throw new UsageError('name a --subscription or a --consumer');
  const eventNumber = wholeNumber('event number', target);
  const rows = await herald.parked.list({ subscription, status: ALL_EVENT_STATUSES as never }, { limit: 1, afterEventNumber: eventNumber - 1 });
  const found = rows.find((e) => e.eventNumber === eventNumber);
  if (!found) throw new NotFoundError(`subscription '${subscription}' has no parked event ${eventNumber}`);
  return found;
}

const ALL_EVENT_STATUSES = ['waiting', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying', 'retried', 'skipped'];
const ALL_MESSAGE_STATUSES = ['held', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retried', 'skipped'];

async function show(session: Session, herald: Herald, target: string | undefined): Promise<void> {
  const found = await find(session, herald, target);
  if (session.json) return session.output.out(json(found));
  const out = session.output;
  for (const [key, value] of Object.entries(found)) {
    if (key === 'attempts' || key === 'error' || key === 'body') continue;
    out.out(`${key.padEnd(16)} ${value instanceof Date ? value.toISOString() : value ?? '-'}`);
  }
  out.out(`error            ${found.error.type ?? ''}: ${found.error.message ?? ''}`);
  if (found.error.stack) out.out(found.error.stack.split('\n').slice(0, 12).map((l) => `  ${l}`).join('\n'));
  out.out(`attempts (${found.attempts.length}):`);
  for (const a of found.attempts) out.out(`  ${json(a).replace(/\s+/g, ' ')}`);
  if ('body' in found && found.body) out.out(`body: ${found.body.slice(0, 2000)}`);
}

async function one(session: Session, herald: Herald, action: 'retry' | 'skip', target: string | undefined): Promise<void> {
  const { subscription, consumer } = filterOf(session);
  if (!target) throw new UsageError('name the event number (with --subscription) or the message key (with --consumer)');
  const wait = !session.values['no-wait'];
  const timeoutMs = session.values.timeout ? wholeNumber('--timeout', session.values.timeout as string) : 30_000;
  const reason = session.values.reason as string | undefined;
  if (action === 'skip' && !reason) throw new UsageError('a skip needs --reason TEXT (kept in the history)');
  let outcome: { status: string; error: string | null };
  if (consumer) {
    outcome = action === 'retry' ? await herald.parkedMessages.retry(consumer, target, { wait, timeoutMs }) : await herald.parkedMessages.skip(consumer, target, reason!, { wait, timeoutMs });
  } else {
    if (!subscription) throw new UsageError('name a --subscription or a --consumer');
    const n = wholeNumber('event number', target);
    outcome = action === 'retry' ? await herald.parked.retry(subscription, n, { wait, timeoutMs }) : await herald.parked.skip(subscription, n, reason!, { wait, timeoutMs });
  }
  if (session.json) session.output.out(json(outcome));
  else session.output.out(`${target}: ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`);
  if (wait && !['retried', 'skipped'].includes(outcome.status)) {
    throw new CommandFailed(outcome.status === 'requested' ? `not carried out within ${timeoutMs} ms: is a process running it?` : `${action} did not succeed: ${outcome.status}`);
  }
}

async function bulk(session: Session, herald: Herald, action: 'retry' | 'skip'): Promise<void> {
  const filter = filterOf(session);
  const reason = session.values.reason as string | undefined;
  if (action === 'skip' && !reason) throw new UsageError('a skip needs --reason TEXT (kept in the history)');
  const matching = await countOpen(herald, filter);
  const what = `${matching} ${filter.consumer ? 'failed message(s)' : 'parked event(s)'}`;
  if (session.values['dry-run']) return session.output.out(session.json ? json({ matching }) : `${what} match; nothing done (--dry-run)`);
  if (matching === 0) return session.output.out(session.json ? json({ matching, requested: 0 }) : 'nothing matches');
  if (!session.values.yes && !(await confirm(`${action} ${what}?`))) throw new CommandFailed('not confirmed (pass --yes to skip the question)');
  // One statement marks what matches now: failures that arrive later are not part of this action.
  const requested = filter.consumer
    ? action === 'retry' ? await herald.parkedMessages.retryAll(filter) : await herald.parkedMessages.skipAll(filter, reason!)
    : action === 'retry' ? await herald.parked.retryAll(filter) : await herald.parked.skipAll(filter, reason!);
  if (session.values['no-wait']) return session.output.out(session.json ? json({ matching, requested }) : `requested ${action} of ${requested}`);
  const timeoutMs = session.values.timeout ? wholeNumber('--timeout', session.values.timeout as string) : 120_000;
  const progress = session.json ? undefined : new Progress(session.output, action, requested);
  const deadline = Date.now() + timeoutMs;
  let remaining = requested;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    remaining = Math.min(requested, await countOpen(herald, { ...filter, status: IN_PROGRESS as never }));
    progress?.update(requested - remaining);
    if (remaining === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  const left = await countOpen(herald, filter);
  if (session.json) session.output.out(json({ matching, requested, inProgress: remaining, stillOpen: left }));
  else session.output.out(`${action}: ${requested} requested, ${requested - remaining} carried out, ${left} still failed or parked`);
  if (remaining > 0) throw new CommandFailed(`${remaining} not carried out within ${timeoutMs} ms: is a process running the work?`);
}

const IN_PROGRESS = ['retry_requested', 'skip_requested', 'retrying'];

/** Counts matching rows page by page (the operator APIs cap a page at 10 000). */
async function countOpen(herald: Herald, filter: ParkedFilter & MessageFilter): Promise<number> {
  const { consumer, subscription, ...rest } = filter;
  if (consumer) {
    const status = filter.status && (filter.status as string[]).filter((s) => s !== 'retrying');
    let count = 0;
    let after: ParkedMessage | undefined;
    for (;;) {
      const rows = await herald.parkedMessages.list({ ...rest, consumer, status: status as never }, { limit: 10_000, after: after && { consumer: after.consumer, key: after.key } as never });
      count += rows.length;
      if (rows.length < 10_000) return count;
      after = rows[rows.length - 1];
    }
  }
  let count = 0;
  let afterEventNumber: number | undefined;
  for (;;) {
    const rows = await herald.parked.list({ ...rest, subscription }, { limit: 10_000, afterEventNumber });
    count += rows.length;
    if (rows.length < 10_000) return count;
    afterEventNumber = rows[rows.length - 1]!.eventNumber;
  }
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError(`${question} — not a terminal: pass --yes to confirm`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
