/**
 * `herald admin`: serves the admin panel for the config's contexts until SIGINT/SIGTERM;
 * `herald admin hash-password` makes a user's `passwordHash` (the password read from stdin).
 */
import { createAdminPanel, hashPassword } from '../../admin/index.js';
import { ConfigError } from '../../errors.js';
import { UsageError } from '../exit.js';
import { configOf, parse, wholeNumber } from '../session.js';
import { openApp } from '../../config/app.js';
import type { Command } from './command.js';

const OPTIONS = { port: { type: 'string' }, host: { type: 'string' }, 'allow-unauthenticated-localhost': { type: 'boolean' } } as const;

export const admin: Command = {
  name: 'admin',
  summary: 'serve the admin panel (users and roles from the config); hash-password makes a user',
  usage: `herald admin [--port N] [--host H] [--allow-unauthenticated-localhost]
  echo -n 'a long password' | herald admin hash-password`,
  options: OPTIONS,
  async run(args, output) {
    const session = parse(args, OPTIONS, output);
    if (session.positionals[0] === 'hash-password') {
      const password = (await readStdin()).replace(/\r?\n$/, '');
      output.out(await hashPassword(password));
      return;
    }
    if (session.positionals.length > 0) throw new UsageError(`usage: ${this.usage}`);
    const config = await configOf(session);
    const settings = config.admin ?? {};
    const open = session.values['allow-unauthenticated-localhost'] === true || settings.allowUnauthenticatedLocalhost === true;
    if (!settings.users?.length && !open) {
      throw new ConfigError('the admin panel needs users (admin.users in the config: name, passwordHash from `herald admin hash-password`, role viewer|operator), or --allow-unauthenticated-localhost on 127.0.0.1');
    }
    const app = await openApp(config, { databaseUrl: session.values['database-url'] as string | undefined, contexts: session.values.context as string[] | undefined });
    try {
      await app.checkMigrated();
      const panel = createAdminPanel({ heralds: [...app.heralds.values()], users: settings.users, allowUnauthenticatedLocalhost: open });
      const port = session.values.port ? wholeNumber('--port', session.values.port as string) : settings.port ?? 8080;
      const { url } = await panel.listen({ port, host: (session.values.host as string | undefined) ?? settings.host ?? '127.0.0.1' });
      output.err(`herald: admin panel at ${url} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await panel.close();
    } finally {
      await app.close();
    }
  },
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("pipe the password in, so it is neither echoed nor kept in your shell history: herald admin hash-password < password.txt");
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}
