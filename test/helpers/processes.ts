import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** A child process running a test fixture, with its stdout lines observable. */
export class FixtureProcess {
  readonly lines: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const listener of this.listeners) listener(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[fixture ${child.pid}] ${chunk}`));
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  /** Resolves with the first line (already seen or future) matching `predicate`; rejects after `timeoutMs`. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`fixture ${this.child.pid}: no matching line within ${timeoutMs} ms; last: ${this.lines.slice(-3).join(' | ')}`));
      }, timeoutMs);
      const listener = (line: string) => {
        if (!predicate(line)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(line);
      };
      this.listeners.add(listener);
    });
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** Starts `test/fixtures/<name>.ts` with `config` as JSON in HERALD_FIXTURE. */
export function startFixture(name: string, config: object): FixtureProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', `test/fixtures/${name}.ts`], {
    env: { ...process.env, HERALD_FIXTURE: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new FixtureProcess(child);
}
