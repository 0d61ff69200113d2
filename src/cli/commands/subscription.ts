/** `herald subscription pause|resume|reset|restart <name>`: operator controls, carried out by the lease holder. */
import { hostname, userInfo } from 'node:os';
import type { ResetTarget } from '../../subscriptions/targets.js';
import { CommandFailed, UsageError } from '../exit.js';
import { json } from '../output.js';
import { oneContext, parse, wholeNumber, withApp } from '../session.js';
import type { Command } from './command.js';

const OPTIONS = { to: { type: 'string' }, reason: { type: 'string' }, 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } } as const;

export const subscription: Command = {
  name: 'subscription',
  summary: 'pause, resume, reset (replay) or restart a subscription or relay, from any machine',
  usage: `herald subscription pause <name> [--reason TEXT] [--no-wait]
  herald subscription resume <name>
  herald subscription reset <name> --to origin|current|<event number>|<ISO time> [--no-wait]
  herald subscription restart <name>          (one its error policy stopped)`,
  options: OPTIONS,
  async run(args, output) {
    const session = parse(args, OPTIONS, output);
    const [action, name, ...rest] = session.positionals;
    if (!action || !name || rest.length > 0) throw new UsageError(`usage: ${this.usage}`);
    const wait = !session.values['no-wait'];
    const timeoutMs = session.values.timeout ? wholeNumber('--timeout', session.values.timeout as string) : 30_000;
    const by = `${userInfo().username}@${hostname()} (herald CLI)`;
    const result = await withApp(session, async (app) => {
      const control = app.herald(oneContext(session, app)).subscriptions;
      switch (action) {
        case 'pause':
          return control.pause(name, { reason: session.values.reason as string | undefined, by, wait, timeoutMs });
        case 'resume':
          return { status: (await control.resume(name, { by })) ? 'resumed' : 'was not paused' };
        case 'reset':
          return control.reset(name, target(session.values.to as string | undefined), { by, wait, timeoutMs });
        case 'restart':
          await control.restart(name);
          return { status: 'restart requested' };
        default:
          throw new UsageError(`unknown action "${action}": pause, resume, reset or restart`);
      }
    });
    if (session.json) output.out(json(result));
    else output.out(`${name}: ${describe(result)}`);
    if (wait && (result as { status: string }).status === 'requested') throw new CommandFailed(`not carried out within ${timeoutMs} ms: the process holding '${name}' will do it after its batch in hand`);
  },
};

/** `--to` as a reset target: origin, current, an event number, or an ISO 8601 time. */
export function target(to: string | undefined): ResetTarget {
  if (to === undefined) throw new UsageError('reset needs --to origin|current|<event number>|<ISO time>');
  if (to === 'origin' || to === 'current') return to;
  if (/^\d+$/.test(to)) return { eventNumber: Number(to) };
  const time = new Date(to);
  if (/^\d{4}-\d{2}-\d{2}/.test(to) && !Number.isNaN(time.getTime())) return { time };
  throw new UsageError(`--to must be origin, current, an event number or an ISO 8601 time, got ${JSON.stringify(to)}`);
}

function describe(result: unknown): string {
  const r = result as { status: string; from?: number; to?: number; reason?: string | null };
  if (r.from !== undefined && r.to !== undefined) return `${r.status} (checkpoint ${r.from} → ${r.to})`;
  return r.reason ? `${r.status} (${r.reason})` : r.status;
}
