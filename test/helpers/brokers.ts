/**
 * The local brokers the transport tests run against, and control over them for "broker down"
 * tests. Broker clients are imported on demand, so a test of one broker never loads the others.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from './db.js';

const run = promisify(execFile);

export type BrokerKind = 'rabbitmq' | 'nats' | 'redis';

/** Where each local broker listens (override with RABBITMQ_URL, NATS_URL, REDIS_URL). */
export const brokerUrls: Readonly<Record<BrokerKind, string>> = {
  rabbitmq: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  nats: process.env.NATS_URL ?? '127.0.0.1:4222',
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/** Host and port of a broker URL (`amqp://u:p@h:5672`, `h:4222`, `redis://h:6379`). */
function endpoint(kind: BrokerKind): { host: string; port: number } {
  const url = brokerUrls[kind];
  const parsed = new URL(url.includes('://') ? url : `nats://${url}`);
  const defaults: Record<BrokerKind, number> = { rabbitmq: 5672, nats: 4222, redis: 6379 };
  return { host: parsed.hostname || '127.0.0.1', port: parsed.port ? Number(parsed.port) : defaults[kind] };
}

/** Whether something accepts TCP connections on host:port (within `timeoutMs`). */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether the broker is reachable. When it is not: under CI=true the test fails (a missing broker
 * must not pass silently); elsewhere the test is skipped and this returns false.
 */
export async function requireBroker(kind: BrokerKind, t: TestContext): Promise<boolean> {
  const { host, port } = endpoint(kind);
  if (await portOpen(host, port)) return true;
  const message = `${kind} is not reachable on ${host}:${port}`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: broker tests must run)`);
  t.skip(message);
  return false;
}

/** Whether the broker not only listens but serves: AMQP handshake, JetStream API, PING. */
async function usable(kind: BrokerKind, url = brokerUrls[kind]): Promise<boolean> {
  try {
    if (kind === 'rabbitmq') {
      const { connect } = await import('amqplib');
      const connection = await connect(url, { timeout: 2000 });
      connection.on('error', () => {});
      await connection.close();
    } else if (kind === 'nats') {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
      try {
        // Streams are recovered before the API answers, so this also waits for JetStream recovery.
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.getAccountInfo();
      } finally {
        await nc.close();
      }
    } else {
      const { Redis } = await import('ioredis');
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        if ((await client.ping()) !== 'PONG') return false;
      } finally {
        client.disconnect();
      }
    }
    return true;
  } catch {
    return false;
  }
}

async function pidsOf(pattern: string): Promise<number[]> {
  try {
    const { stdout } = await run('pgrep', ['-f', pattern]);
    return stdout
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const NATS_SERVER = '/usr/sbin/nats-server';

/** Stops the local broker and waits until its port is closed. Redis: use {@link startPrivateRedis}. */
export async function stopBroker(kind: BrokerKind, timeoutMs = 60_000): Promise<void> {
  const { host, port } = endpoint(kind);
  if (kind === 'rabbitmq') {
    await run('rabbitmqctl', ['stop_app'], { timeout: timeoutMs });
  } else if (kind === 'nats') {
    const pids = await pidsOf(NATS_SERVER);
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    await waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs, intervalMs: 50, message: 'nats-server to exit' });
  } else {
    throw new Error('the shared Redis keeps nothing on disk: stop a startPrivateRedis() server instead');
  }
  await waitFor(async () => !(await portOpen(host, port, 300)), { timeoutMs, intervalMs: 100, message: `${kind} port ${port} to close` });
}

/** Starts the local broker and waits until its port is open and it serves requests. */
export async function startBroker(kind: BrokerKind, timeoutMs = 60_000): Promise<void> {
  if (kind === 'rabbitmq') {
    await run('rabbitmqctl', ['start_app'], { timeout: timeoutMs });
  } else if (kind === 'nats') {
    if ((await pidsOf(NATS_SERVER)).length === 0) {
      await run(
        'start-stop-daemon',
        ['--start', '--oknodo', '--background', '--exec', NATS_SERVER, '--', '-a', '127.0.0.1', '-p', '4222', '-js', '-sd', '/var/lib/nats-server', '-l', '/var/log/nats-server.log'],
        { timeout: timeoutMs },
      );
    }
  } else {
    throw new Error('the shared Redis keeps nothing on disk: start a startPrivateRedis() server instead');
  }
  await waitFor(() => usable(kind), { timeoutMs, intervalMs: 200, message: `${kind} to serve again` });
}

/** A Redis server of the test's own, persisting every write (AOF, fsync always), restartable on its data. */
export interface PrivateRedis {
  readonly url: string;
  /** Shuts the server down (SIGTERM: it finishes writing the AOF) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and waits until it answers. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  dispose(): Promise<void>;
}

/** Starts `redis-server` on `port` with AOF persistence in a fresh temporary directory. */
export async function startPrivateRedis(port: number): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    if (child) return;
    if (await portOpen('127.0.0.1', port, 300)) throw new Error(`port ${port} is already in use`);
    output = '';
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--save', '', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
    started.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
    child = started;
    started.once('exit', () => {
      if (child === started) child = undefined;
    });
    try {
      await waitFor(
        async () => {
          if (!child) throw new Error(`redis-server on ${port} exited: ${output}`);
          return usable('redis', url);
        },
        { timeoutMs: 20_000, intervalMs: 50, message: `private redis on ${port}` },
      );
    } catch (error) {
      await stop();
      throw error;
    }
  };

  const stop = async () => {
    const running = child;
    if (!running) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    await waitFor(async () => !(await portOpen('127.0.0.1', port, 300)), { timeoutMs: 10_000, intervalMs: 50, message: `port ${port} to close` });
  };

  await start();
  return {
    url,
    stop,
    start,
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
