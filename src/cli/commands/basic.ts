/** `herald migrate`, `herald start`, `herald status`, `herald deliveries journey`. */
import { type HeraldApp, openApp } from '../../config/app.js';
import type { HeraldConfig } from '../../config/types.js';
import type { LogStatus } from '../../herald.js';
import { readBacklog } from '../../outbox/backlog.js';
import { outboxTableSettings } from '../../outbox/options.js';
import { CommandFailed, NotFoundError, UsageError } from '../exit.js';
import { json, table } from '../output.js';
import { configOf, oneContext, parse, withApp } from '../session.js';
import type { Command } from './command.js';

export const migrate: Command = {
  name: 'migrate',
  summary: "create or upgrade each context's tables",
  usage: 'herald migrate [--context NAME]…',
  async run(args, output) {
    const session = parse(args, {}, output);
    const results = await withApp(session, async (app) => {
      const done: { context: string; applied: number[] }[] = [];
      for (const [context, herald] of app.heralds) done.push({ context, applied: [...(await herald.migrate()).applied] });
      return done;
    }, { migrated: false });
    if (session.json) output.out(json(results));
    else for (const r of results) output.out(`${r.context}: ${r.applied.length === 0 ? 'up to date' : `applied ${r.applied.join(', ')}`}`);
  },
};

export const start: Command = {
  name: 'start',
  summary: 'run the configured subscriptions, relays and consumers until SIGINT/SIGTERM',
  usage: 'herald start [--migrate] [--context NAME]…',
  options: { migrate: { type: 'boolean' } },
  async run(args, output) {
    const session = parse(args, this.options, output);
    const config = await configOf(session);
    const app = await openApp(config, { databaseUrl: session.values['database-url'] as string | undefined, contexts: session.values.context as string[] | undefined });
    try {
      if (session.values.migrate) await app.migrate();
      await app.register();
      await app.start();
      const metrics = config.metrics ? await serveConfiguredMetrics(app, config.metrics) : undefined;
      output.err(`herald: running ${[...app.heralds.keys()].join(', ')}${metrics ? `; metrics at ${metrics.url}` : ''} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      output.err('herald: stopping (finishing the work in hand)');
      await metrics?.close();
    } finally {
      await app.close();
    }
  },
};

/** Serves `/metrics` for every context of the app (prom-client, an optional peer, is loaded only then). */
async function serveConfiguredMetrics(app: HeraldApp, settings: NonNullable<HeraldConfig['metrics']>): Promise<{ url: string; close(): Promise<void> }> {
  const { prometheusMetrics, serveMetrics } = await import('../../metrics/index.js');
  const { Registry } = await import('prom-client');
  const registry = new Registry();
  const metrics = prometheusMetrics([...app.heralds.values()], { registry });
  const server = await serveMetrics({ port: settings.port ?? 9464, host: settings.host ?? '127.0.0.1', registry });
  return {
    url: server.url,
    async close() {
      await server.close();
      metrics.close();
    },
  };
}

export const status: Command = {
  name: 'status',
  summary: "each context's log head, subscriptions and relays (position, lag, state, holder, parked), consumers' deliveries",
  usage: 'herald status [--context NAME]… [--check]',
  options: { check: { type: 'boolean' } },
  async run(args, output) {
    const session = parse(args, this.options, output);
    const statuses = await withApp(session, async (app) => Promise.all([...app.heralds].map(async ([name, h]) => withOutboxes(app, name, await h.status()))));
    if (session.json) output.out(json(statuses));
    else output.out(statuses.map(describeStatus).join('\n\n'));
    const trouble = statuses.flatMap((s) => s.subscriptions.filter((x) => x.state === 'failed' || x.parked > 0).map((x) => `${s.context}.${x.name}`));
    if (session.values.check && trouble.length > 0) throw new CommandFailed(`trouble in ${trouble.join(', ')} (failed or parked)`);
  },
};

/** This process registers no workers: the configured outbox tables' backlogs are read directly. */
async function withOutboxes(app: HeraldApp, context: string, status: LogStatus): Promise<LogStatus> {
  const configured = app.config.contexts.find((c) => c.name === context)?.outboxes ?? [];
  if (configured.length === 0 || status.outboxes.length > 0) return status;
  const pool = app.herald(context).pool;
  const outboxes = await Promise.all(
    configured.map(async (options) => {
      const table = outboxTableSettings(options);
      return { name: table.name, table: table.display, active: false, watermark: 0, lastId: null, ...(await readBacklog(pool, table)), waitingFor: [] };
    }),
  );
  return { ...status, outboxes };
}

function describeStatus(s: LogStatus): string {
  const lines = [`context ${s.context}: head ${s.head}, unsequenced ${s.unsequenced}, open appends ${s.openAppends.length}`];
  for (const open of s.openAppends) lines.push(`  open append: pid ${open.pid}, ${open.state}, for ${open.ageMs ?? "?"} ms (${open.applicationName || 'no application_name'})`);
  if (s.subscriptions.length > 0) {
    lines.push(
      table(s.subscriptions, [
        { header: 'subscription', value: (x) => x.name },
        { header: 'state', value: (x) => x.state },
        { header: 'position', value: (x) => x.position, right: true },
        { header: 'lag', value: (x) => x.lag, right: true },
        { header: 'parked', value: (x) => x.parked, right: true },
        { header: 'holder', value: (x) => x.leaseOwner },
        { header: 'reason', value: (x) => x.reason ?? x.lastError?.message },
      ]),
    );
  }
  if (s.outboxes.length > 0) {
    lines.push(
      table(s.outboxes, [
        { header: 'outbox', value: (x) => x.name },
        { header: 'table', value: (x) => x.table },
        { header: 'undispatched', value: (x) => x.undispatched, right: true },
        { header: 'oldest undispatched', value: (x) => x.oldestUndispatchedAt },
      ]),
    );
  }
  if (s.deliveries.length > 0) {
    lines.push(
      table(s.deliveries, [
        { header: 'consumer', value: (x) => x.consumer },
        { header: 'handled through', value: (x) => x.handledThrough, right: true },
        { header: 'pending', value: (x) => x.pending, right: true },
        { header: 'flagged', value: (x) => x.flagged, right: true },
        { header: 'last ack', value: (x) => x.lastAcknowledgedAt },
      ]),
    );
  }
  return lines.join('\n');
}

export const deliveries: Command = {
  name: 'deliveries',
  summary: "an event's journey to the consumers of other services",
  usage: 'herald deliveries journey <event number | event id> [--context NAME]',
  async run(args, output) {
    const session = parse(args, {}, output);
    const [sub, event] = session.positionals;
    if (sub !== 'journey' || !event) throw new UsageError(`usage: ${this.usage}`);
    const journey = await withApp(session, (app) => app.herald(oneContext(session, app)).deliveries.journey(/^\d+$/.test(event) ? Number(event) : event));
    if (!journey) throw new NotFoundError(`no sequenced event ${event}`);
    if (session.json) return output.out(json(journey));
    output.out(`event ${journey.eventNumber} ${journey.type} (${journey.eventId}) on ${journey.streamId}, committed ${journey.createdAt.toISOString()}`);
    output.out(
      journey.consumers.length === 0
        ? 'no consumers known (none acknowledged anything, none expected)'
        : table(journey.consumers, [
            { header: 'consumer', value: (c) => c.consumer },
            { header: 'status', value: (c) => c.status },
            { header: 'handled at', value: (c) => c.handledAt },
          ]),
    );
  },
};
