/**
 * What every command starts from: the global flags, the config (a file, or just `--context` names
 * with `--database-url`), and the opened app, closed on the way out whatever happens.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { openApp, type HeraldApp } from '../config/app.js';
import { findConfigFile, loadConfig } from '../config/load.js';
import type { HeraldConfig } from '../config/types.js';
import { validateSqlName } from '../sql/identifiers.js';
import { UsageError } from './exit.js';
import type { Output } from './output.js';

/** Flags every command accepts. */
export const GLOBAL_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'database-url': { type: 'string' },
  context: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const GLOBAL_HELP = `Global options:
  -c, --config FILE        config file (default: herald.config.{ts,js,mjs,yaml,yml,json} here)
      --database-url URL   use this database for every context (default: the config, then DATABASE_URL)
      --context NAME       only this context (repeatable); without a config file, the contexts to use
      --json               machine-readable output
  -h, --help               help for the command`;

export interface Session {
  readonly output: Output;
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
  readonly json: boolean;
}

/** Parses a command's arguments (its own options plus the global ones); unknown flags are usage errors. */
export function parse(args: readonly string[], options: ParseArgsConfig['options'], output: Output): Session {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { output, values: values as Session['values'], positionals, json: values.json === true };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The config to use: the file, or (no file, `--context` given) a bare one naming those contexts. */
export async function configOf(session: Session): Promise<HeraldConfig> {
  const file = session.values.config as string | undefined;
  const contexts = (session.values.context as string[] | undefined) ?? [];
  let hasFile = true;
  try {
    findConfigFile(file);
  } catch (error) {
    if (file || contexts.length === 0) throw error;
    hasFile = false;
  }
  if (hasFile) return (await loadConfig(file)).config;
  return { contexts: contexts.map((name) => ({ name: validateSqlName('context', name) })) };
}

/** Runs `work` with the app opened from the session's config; always closes it. */
export async function withApp<T>(session: Session, work: (app: HeraldApp) => Promise<T>, options: { migrated?: boolean } = {}): Promise<T> {
  const config = await configOf(session);
  const contexts = session.values.context as string[] | undefined;
  const app = await openApp(config, { databaseUrl: session.values['database-url'] as string | undefined, contexts });
  try {
    if (options.migrated !== false) await app.checkMigrated();
    return await work(app);
  } finally {
    await app.close();
  }
}

/** The one context a command acts on: `--context`, or the config's only one. */
export function oneContext(session: Session, app: HeraldApp): string {
  const names = [...app.heralds.keys()];
  if (names.length === 1) return names[0]!;
  throw new UsageError(`this command acts on one context: pass --context (one of ${names.join(', ')})`);
}

/** A whole number argument ≥ 1. */
export function wholeNumber(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a whole number ≥ 1, got ${JSON.stringify(value ?? '')}`);
  return n;
}
