import { HeraldError } from '../errors.js';

/** Exit codes of the `herald` command: each means one thing, so scripts can branch on them. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The command ran and its answer is "no": a retry failed again, a wait timed out, status found trouble (`--check`). */
  failed: 1,
  /** Bad command line: unknown command or flag, missing or malformed argument. */
  usage: 2,
  /** The config file (or a configured value) is wrong; nothing was started. */
  config: 3,
  /** The database cannot be reached, or a context is not migrated. */
  database: 4,
  /** What the command names does not exist: a parked event, a subscription, an event. */
  notFound: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A problem with the command line itself. */
export class UsageError extends Error {
  readonly exitCode = EXIT.usage;
}

/** The command found that what it was asked about does not exist. */
export class NotFoundError extends Error {
  readonly exitCode = EXIT.notFound;
}

/** The command ran; its outcome is a failure worth a non-zero exit (the message says which). */
export class CommandFailed extends Error {
  readonly exitCode = EXIT.failed;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', '3D000', '28P01', '28000', '57P03']);

/** The exit code an error means. */
export function exitCodeOf(error: unknown): ExitCode {
  const code = (error as { exitCode?: ExitCode })?.exitCode;
  if (code !== undefined) return code;
  if (error instanceof HeraldError) {
    switch (error.code) {
      case 'HERALD_CONFIG':
      case 'HERALD_CONFIG_FILE':
      case 'HERALD_INVALID_IDENTIFIER':
        return EXIT.config;
      case 'HERALD_INVALID_ARGUMENT':
        return EXIT.usage;
      case 'HERALD_NOT_MIGRATED':
        return EXIT.database;
      case 'HERALD_NOT_PARKED':
      case 'HERALD_SUBSCRIPTION_UNKNOWN':
        return EXIT.notFound;
      default:
        return EXIT.failed;
    }
  }
  const pgCode = (error as { code?: string })?.code;
  if (pgCode && CONNECTION_CODES.has(pgCode)) return EXIT.database;
  if (error instanceof AggregateError && error.errors.some((e) => CONNECTION_CODES.has((e as { code?: string })?.code ?? ''))) return EXIT.database;
  return EXIT.failed;
}
