/** `herald sagas [list|show]`: saga instances, their state and pending timeouts, unmatched events. */
import { quoteIdent } from '../../sql/identifiers.js';
import { SagaInspector, type SagaInstance } from '../../sagas/inspect.js';
import { NotFoundError, UsageError } from '../exit.js';
import { cell, json, table } from '../output.js';
import { oneContext, parse, wholeNumber, withApp } from '../session.js';
import type { Command } from './command.js';

const OPTIONS = { status: { type: 'string' }, limit: { type: 'string' } } as const;

export const sagas: Command = {
  name: 'sagas',
  summary: 'saga instances (state, steps, pending timeouts) and events that found no instance',
  usage: `herald sagas                                 every saga, with counts
  herald sagas list <saga> [--status active|completed|compensated] [--limit N]
  herald sagas show <saga> <key>
  herald sagas unmatched <saga>`,
  options: OPTIONS,
  async run(args, output) {
    const session = parse(args, OPTIONS, output);
    const [action = 'summary', saga, key] = session.positionals;
    const limit = session.values.limit ? wholeNumber('--limit', session.values.limit as string) : 100;
    const result = await withApp(session, async (app) => {
      const inspect = new SagaInspector(app.herald(oneContext(session, app)).pool, quoteIdent(oneContext(session, app)));
      if (action === 'summary') return inspect.sagas();
      if (!saga) throw new UsageError(`name the saga: ${this.usage}`);
      if (action === 'list') return inspect.list(saga, { status: session.values.status as SagaInstance['status'] | undefined, limit });
      if (action === 'unmatched') return inspect.unmatched(saga, { limit });
      if (action === 'show') {
        if (!key) throw new UsageError('name the instance key');
        const found = await inspect.get(saga, key);
        if (!found) throw new NotFoundError(`saga '${saga}' has no instance '${key}'`);
        return found;
      }
      throw new UsageError(`unknown action "${action}": list, show or unmatched`);
    });
    if (session.json) return output.out(json(result));
    if (!Array.isArray(result)) {
      const instance = result as SagaInstance;
      for (const field of ['saga', 'key', 'status', 'reason', 'version', 'startedAt', 'updatedAt', 'finishedAt'] as const) output.out(`${field.padEnd(11)} ${cell(instance[field])}`);
      output.out(`steps       ${instance.steps.join(', ') || '-'}`);
      output.out(`state       ${JSON.stringify(instance.state)}`);
      for (const t of instance.timeouts) output.out(`timeout     ${t.name} due ${t.dueAt.toISOString()}`);
      return;
    }
    if (result.length === 0) return output.out('none');
    const columns = Object.keys(result[0] as object).filter((k) => k !== 'state' && k !== 'timeouts');
    output.out(table(result as Record<string, unknown>[], columns.map((k) => ({ header: k, value: (row: Record<string, unknown>) => row[k] }))));
  },
};
