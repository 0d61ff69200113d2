/**
 * The chaos run's worker processes: each slot (a context's worker #n) runs one child process at
 * a time, which can be killed with kill -9 and started again, and all are stopped gracefully at
 * the end (SIGTERM: they finish their batches and release their leases).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BrokerKind } from './broker.js';
import type { ContextKey } from './shared.js';

export interface WorkerConfig {
  readonly prefix: string;
  readonly context: ContextKey;
  /** `payments#2`: with the pid, its name in the leases it holds. */
  readonly label: string;
  readonly broker?: BrokerKind;
  readonly paymentDeadlineMs: number;
  readonly leaseTtlMs: number;
}

/** The environment variable the supervisor passes a worker its config in. */
export const WORKER_CONFIG = 'HERALD_DEMO_WORKER';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** How a worker process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

class WorkerProcess {
  readonly ready: Promise<boolean>;
  readonly exited: Promise<Exit>;

  constructor(
    readonly child: ChildProcess,
    label: string,
  ) {
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    const lines = createInterface({ input: child.stdout! });
    this.ready = new Promise((resolve) => {
      lines.on('line', (line) => line === 'ready' && resolve(true));
      void this.exited.then(() => resolve(false));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').trimEnd().split('\n')) process.stderr.write(`[${label} pid ${child.pid}] ${line}\n`);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

export class Slot {
  current: WorkerProcess | undefined;
  /** Restarting after a kill: not a target for the next kill until it is back. */
  restarting = false;

  constructor(
    readonly context: ContextKey,
    readonly index: number,
  ) {}

  get label(): string {
    return `${this.context}#${this.index}`;
  }
}

/** Every context's worker slots and their processes. */
export class Fleet {
  readonly slots: Slot[] = [];
  /** Exits nobody asked for (a worker that crashed by itself). */
  readonly unexpected: { label: string; pid: number; exit: Exit }[] = [];
  private stopping = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly config: Omit<WorkerConfig, 'context' | 'label'>,
    contexts: readonly ContextKey[],
    perContext: number,
    /** Aborted (Ctrl-C reached the workers too): their exits are expected, nothing is restarted. */
    private readonly signal?: AbortSignal,
  ) {
    for (const context of contexts) for (let i = 1; i <= perContext; i++) this.slots.push(new Slot(context, i));
  }

  /** Starts (or starts again) the slot's process. */
  start(slot: Slot): WorkerProcess {
    const config: WorkerConfig = { ...this.config, context: slot.context, label: slot.label };
    // The same loader this process runs under (tsx), so the worker's TypeScript loads too.
    const loader = process.execArgv.length > 0 ? process.execArgv : ['--import', 'tsx'];
    const child = spawn(process.execPath, [...loader, WORKER], {
      env: { ...process.env, DATABASE_URL: this.databaseUrl, [WORKER_CONFIG]: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new WorkerProcess(child, slot.label);
    slot.current = worker;
    void worker.exited.then((exit) => {
      if (this.stopping || this.signal?.aborted || exit.signal === 'SIGKILL') return;
      // A worker that ended by itself is a failure of the run; like a supervisor, start it again (a few times).
      this.unexpected.push({ label: slot.label, pid: worker.pid, exit });
      if (this.unexpected.filter((u) => u.label === slot.label).length <= 3) setTimeout(() => this.stopping || this.signal?.aborted || this.start(slot), 500);
    });
    return worker;
  }

  /** Starts every slot; resolves once all are ready, or rejects naming the ones that are not within `timeoutMs`. */
  async startAll(timeoutMs: number): Promise<void> {
    for (const slot of this.slots) this.start(slot);
    await this.allReady(timeoutMs);
  }

  /** Waits until every slot's current process said it is ready. */
  async allReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const slot of this.slots) {
      while (slot.restarting && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const ready = await Promise.race([slot.current!.ready, new Promise<false>((r) => setTimeout(() => r(false), Math.max(0, deadline - Date.now())))]);
      if (!ready) throw new Error(`chaos: worker ${slot.label} did not start within ${timeoutMs} ms`);
    }
  }

  /** kill -9 the slot's process; resolves with how it ended. */
  async kill(slot: Slot): Promise<{ pid: number; exit: Exit }> {
    const worker = slot.current!;
    worker.child.kill('SIGKILL');
    return { pid: worker.pid, exit: await worker.exited };
  }

  /** SIGTERM to every process still running (a graceful stop), kill -9 after `timeoutMs`. */
  async stopAll(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const running = this.slots.map((s) => s.current).filter((w): w is WorkerProcess => w !== undefined && w.alive);
    for (const worker of running) worker.child.kill('SIGTERM');
    const timer = setTimeout(() => running.forEach((w) => w.alive && w.child.kill('SIGKILL')), timeoutMs);
    await Promise.all(running.map((w) => w.exited));
    clearTimeout(timer);
  }
}
