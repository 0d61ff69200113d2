import type { ParseArgsConfig } from 'node:util';
import type { Output } from '../output.js';

/** One `herald <name>` command. */
export interface Command {
  readonly name: string;
  /** One line for `herald --help`. */
  readonly summary: string;
  /** Usage lines for `herald <name> --help`. */
  readonly usage: string;
  readonly options?: ParseArgsConfig['options'];
  /** Runs it; throws to exit non-zero (see exit.ts). */
  run(args: readonly string[], output: Output): Promise<void>;
}
