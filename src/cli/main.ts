#!/usr/bin/env node
/**
 * The `herald` command. Each command reads the same config file as the runtime (or `--context`
 * with `--database-url`), prints tables (or `--json`), and exits with a code from exit.ts.
 */
import { pathToFileURL } from 'node:url';
import { describe } from '../errors.js';
import { admin } from './commands/admin.js';
import { deliveries, migrate, start, status } from './commands/basic.js';
import type { Command } from './commands/command.js';
import { parked } from './commands/parked.js';
import { schema } from './commands/schema.js';
import { sagas } from './commands/sagas.js';
import { subscription } from './commands/subscription.js';
import { EXIT, exitCodeOf, type ExitCode, UsageError } from './exit.js';
import { processOutput, type Output } from './output.js';
import { GLOBAL_HELP } from './session.js';

export const COMMANDS: readonly Command[] = [migrate, start, status, parked, subscription, deliveries, sagas, schema, admin];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: herald <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    GLOBAL_HELP,
    '',
    `Exit codes: ${Object.entries(EXIT).map(([name, code]) => `${code} ${name}`).join(', ')}.`,
    'herald <command> --help shows its usage.',
  ].join('\n');
}

/** Runs one command line; resolves to the exit code (never throws). */
export async function runCli(argv: readonly string[], output: Output = processOutput): Promise<ExitCode> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    output.out(help());
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    if (args.includes('--help') || args.includes('-h')) {
      output.out(`${command.summary}\n\nUsage: ${command.usage}\n\n${GLOBAL_HELP}`);
      return EXIT.ok;
    }
    await command.run(args, output);
    return EXIT.ok;
  } catch (error) {
    const code = exitCodeOf(error);
    const message = error instanceof Error ? error.message : describe(error);
    if (args.includes('--json')) output.out(JSON.stringify({ error: { code: (error as { code?: string })?.code ?? null, message, exitCode: code } }));
    output.err(`herald ${name}: ${message}`);
    if (code === EXIT.usage && command) output.err(`usage: ${command.usage}`);
    return code;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
