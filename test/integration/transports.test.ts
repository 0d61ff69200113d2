/**
 * The broker transports against real brokers (RabbitMQ, NATS JetStream, Redis Streams): batches in
 * flight, prefetch, order, acks, redelivery, channel separation, unreachable and restarted brokers.
 * Under CI=true an unreachable broker fails these tests; elsewhere they are skipped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { TransportError } from '../../src/errors.js';
import type { Channel, Consumption, Delivery, OutgoingMessage, Transport } from '../../src/transports/transport.js';
import { type BrokerKind, brokerUrls, requireBroker, startBroker, startPrivateRedis, stopBroker } from '../helpers/brokers.js';
import { waitFor } from '../helpers/db.js';

const KINDS: BrokerKind[] = ['rabbitmq', 'nats', 'redis'];
/** How soon an unsettled delivery of a closed consumption comes back (NATS ack wait, Redis claim idle). */
const REDELIVER_MS = 1500;

interface Setup {
  /** A Redis URL other than the shared one, or an unreachable address. */
  url?: string;
  timeoutMs?: number;
}

async function createTransport(kind: BrokerKind, setup: Setup = {}): Promise<Transport> {
  switch (kind) {
    case 'rabbitmq': {
      const { rabbitmq } = await import('../../src/transports/rabbitmq.js');
      return rabbitmq({ url: setup.url ?? brokerUrls.rabbitmq, connectTimeoutMs: setup.timeoutMs ?? 5000, reconnectMs: { max: 1000 } });
    }
    case 'nats': {
      const { nats } = await import('../../src/transports/nats.js');
      return nats({ servers: setup.url ?? brokerUrls.nats, ackWaitMs: REDELIVER_MS, timeoutMs: setup.timeoutMs ?? 5000, reconnectMs: { max: 1000 } });
    }
    case 'redis': {
      const { redis } = await import('../../src/transports/redis.js');
      return redis({ url: setup.url ?? brokerUrls.redis, claimIdleMs: REDELIVER_MS, timeoutMs: setup.timeoutMs ?? 5000, reconnectMs: { max: 1000 } });
    }
  }
}

/** Names no other test uses: brokers keep streams and queues between runs. */
function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Message `seq` of order key `key`; the body carries both so the consumer can check order. */
function message(source: string, key: string, seq: number, type = 'ItemAdded'): OutgoingMessage {
  return { id: `${source}:${key}:${seq}`, source, type, key, body: Buffer.from(JSON.stringify({ key, seq })) };
}

function parse(delivery: Delivery): { key: string; seq: number } {
  return JSON.parse(delivery.body.toString('utf8')) as { key: string; seq: number };
}

/** Deletes what a test left on a broker under the default names (queues, exchanges, streams, keys). */
async function removeFromBroker(kind: BrokerKind, source: string, groups: readonly string[], url = brokerUrls[kind]): Promise<void> {
  if (kind === 'rabbitmq') {
    const { connect } = await import('amqplib');
    const connection = await connect(url);
    try {
      const channel = await connection.createChannel();
      for (const group of groups) {
        await channel.deleteQueue(`herald.${source}.${group}`);
        await channel.deleteQueue(`herald.${source}.acks.${group}`);
      }
      await channel.deleteExchange(`herald.${source}`);
      await channel.deleteExchange(`herald.${source}.acks`);
    } finally {
      await connection.close();
    }
  } else if (kind === 'nats') {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: url });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = `HERALD_${source.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}`;
      for (const name of [stream, `${stream}_ACKS`]) await jsm.streams.delete(name).catch(() => false);
    } finally {
      await nc.close();
    }
  } else {
    const { Redis } = await import('ioredis');
    const client = new Redis(url);
    try {
      await client.del(`herald:${source}`, `herald:${source}:acks`);
    } finally {
      client.disconnect();
    }
  }
}

/** Every transport and consumption a test opens, closed after it whatever happens; then its broker state removed. */
function tracker(t: TestContext) {
  const transports: Transport[] = [];
  const consumptions: Consumption[] = [];
  const used: { kind: BrokerKind; source: string; groups: string[]; url?: string }[] = [];
  t.after(async () => {
    await Promise.allSettled(consumptions.map((c) => c.close()));
    await Promise.allSettled(transports.map((x) => x.close()));
    await Promise.allSettled(used.map((u) => removeFromBroker(u.kind, u.source, u.groups, u.url)));
  });
  return {
    /** Removes `source`'s queues/streams/keys (for these groups) after the test. */
    removeAfter(kind: BrokerKind, source: string, groups: string[], url?: string) {
      used.push({ kind, source, groups, ...(url ? { url } : {}) });
    },
    async transport(kind: BrokerKind, setup?: Setup): Promise<Transport> {
      const transport = await createTransport(kind, setup);
      transports.push(transport);
      return transport;
    },
    async consume(transport: Transport, channel: Channel, source: string, group: string, prefetch: number, onDelivery: (d: Delivery) => void) {
      const consumption = await transport.consume({ channel, source, group, prefetch }, onDelivery);
      consumptions.push(consumption);
      return consumption;
    },
  };
}

/**
 * Messages of the group the broker still holds for redelivery (unacked or requeued), asked of the
 * broker itself with the default names. Call it while no consumption of the group runs.
 */
async function unsettledOnBroker(kind: BrokerKind, source: string, group: string): Promise<number> {
  if (kind === 'rabbitmq') {
    const { connect } = await import('amqplib');
    const connection = await connect(brokerUrls.rabbitmq);
    try {
      const channel = await connection.createChannel();
      return (await channel.checkQueue(`herald.${source}.${group}`)).messageCount;
    } finally {
      await connection.close();
    }
  }
  if (kind === 'nats') {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: brokerUrls.nats });
    try {
      const info = await (await jetstreamManager(nc)).consumers.info(`HERALD_${source.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}`, group);
      return info.num_ack_pending + info.num_pending;
    } finally {
      await nc.close();
    }
  }
  const { Redis } = await import('ioredis');
  const client = new Redis(brokerUrls.redis);
  try {
    const [pending] = (await client.xpending(`herald:${source}`, group)) as [number];
    return pending;
  } finally {
    client.disconnect();
  }
}

/** Resolves with the rejection of `promise`, failing if it resolves; `ms` is how long it took. */
async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  assert.fail('expected a rejection');
}

test('each adapter imports only its own broker client', async () => {
  const clients: Record<string, string[]> = {
    rabbitmq: ['amqplib'],
    nats: ['@nats-io/transport-node', '@nats-io/jetstream'],
    redis: ['ioredis'],
    index: [],
    support: [],
  };
  const src = new URL('../../src/', import.meta.url);
  // Herald's own modules an adapter may use besides its own files; they are read too (they must load no client).
  const shared = new Set(['transports/transport.ts', 'transports/support.ts', 'errors.ts', 'runtime/logger.ts']);
  for (const [name, allowed] of Object.entries(clients)) {
    // An adapter is its entry file plus the folder of the same name. Every module the entry loads
    // is read in turn, so each file an adapter is split into is checked, whatever its name.
    const own = (file: string) => file === `transports/${name}.ts` || file.startsWith(`transports/${name}/`);
    const pending = [`transports/${name}.ts`];
    const seen = new Set(pending);
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      const source = await readFile(new URL(file, src), 'utf8');
      const imported = [...source.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
      for (const specifier of imported) {
        if (specifier.startsWith('node:')) continue;
        if (!specifier.startsWith('.')) {
          assert.ok(allowed.includes(specifier), `${file} imports ${specifier}`);
          continue;
        }
        const target = new URL(specifier, new URL(file, src)).href.slice(src.href.length).replace(/\.js$/, '.ts');
        assert.ok(own(target) || shared.has(target), `${file} imports ${specifier}`);
        if (!seen.has(target)) {
          seen.add(target);
          pending.push(target);
        }
      }
    }
  }
});

for (const kind of KINDS) {
  test(`${kind}: 2000 messages in batches of 500, prefetch 50 — all received, per-key order, acks hold across a reconnect`, { timeout: 120_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    const open = tracker(t);
    const source = unique('src');
    const group = unique('grp');
    open.removeAfter(kind, source, [group]);
    const publisher = await open.transport(kind);
    const consumer = await open.transport(kind);

    const received: { key: string; seq: number }[] = [];
    const acks: Promise<void>[] = [];
    let unsettled = 0;
    let mostUnsettled = 0;
    let redelivered = 0;
    // The queue must exist before publishing (RabbitMQ drops messages no queue is bound for).
    const first = await open.consume(consumer, 'events', source, group, 50, (delivery) => {
      unsettled++;
      mostUnsettled = Math.max(mostUnsettled, unsettled);
      if (delivery.redelivered) redelivered++;
      received.push(parse(delivery));
      assert.ok(delivery.brokerId.length > 0, 'brokerId is set');
      // Settle a little later, so deliveries pile up against the prefetch limit.
      setTimeout(() => {
        unsettled--;
        acks.push(delivery.ack());
      }, Math.random() * 5);
    });

    const keys = Array.from({ length: 20 }, (_, i) => `stream-${i}`);
    const messages = Array.from({ length: 2000 }, (_, i) => message(source, keys[i % keys.length]!, Math.floor(i / keys.length)));
    for (let i = 0; i < messages.length; i += 500) await publisher.publish('events', messages.slice(i, i + 500));

    await waitFor(() => received.length >= 2000 && acks.length >= received.length, { timeoutMs: 60_000, message: 'all 2000 received and acked' });
    await Promise.all(acks);
    assert.equal(received.length, 2000, 'nothing delivered twice');
    assert.equal(redelivered, 0);
    assert.ok(mostUnsettled <= 50, `at most prefetch unsettled (saw ${mostUnsettled})`);
    assert.deepEqual(new Set(received.map((r) => `${r.key}:${r.seq}`)).size, 2000, 'every body received');
    for (const key of keys) {
      const seqs = received.filter((r) => r.key === key).map((r) => r.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `order of ${key}`);
    }
    assert.deepEqual(consumer.health(), { connected: true, lastError: null });
    assert.equal(publisher.health().connected, true);

    // Acked means gone: the broker holds nothing for the group once its consumption closed.
    await first.close();
    await consumer.close();
    assert.equal(await unsettledOnBroker(kind, source, group), 0, 'nothing left to redeliver');
    // A new connection and consumption of the same group receives only what is new.
    const again = await open.transport(kind);
    const later: { key: string; seq: number }[] = [];
    await open.consume(again, 'events', source, group, 50, (delivery) => {
      later.push(parse(delivery));
      void delivery.ack();
    });
    await publisher.publish('events', [message(source, 'sentinel', 0)]);
    await waitFor(() => later.length > 0, { message: 'the sentinel' });
    assert.deepEqual(later, [{ key: 'sentinel', seq: 0 }]);
  });

  test(`${kind}: nack redelivers; deliveries left unsettled by a closed consumption go to the next one`, { timeout: 60_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    const open = tracker(t);
    const source = unique('src');
    const group = unique('grp');
    open.removeAfter(kind, source, [group]);
    const transport = await open.transport(kind);

    const seen: { seq: number; redelivered: boolean }[] = [];
    const held: Delivery[] = [];
    let nacked = false;
    const first = await open.consume(transport, 'events', source, group, 10, (delivery) => {
      const { seq } = parse(delivery);
      seen.push({ seq, redelivered: delivery.redelivered });
      if (seq === 0 && !nacked) {
        nacked = true;
        void delivery.nack();
      } else {
        held.push(delivery); // never settled
      }
    });
    await transport.publish('events', [0, 1, 2, 3, 4].map((seq) => message(source, 'k', seq)));
    await waitFor(() => held.length === 5, { message: 'the nacked message redelivered and all five held' });
    const again = seen.filter((s) => s.seq === 0);
    assert.equal(again.length, 2, 'message 0 delivered twice');
    assert.equal(again[1]!.redelivered, true, 'the second delivery is flagged as redelivered');

    await first.close();
    const next = await open.transport(kind);
    const redelivered: { seq: number; redelivered: boolean }[] = [];
    await open.consume(next, 'events', source, group, 10, (delivery) => {
      redelivered.push({ seq: parse(delivery).seq, redelivered: delivery.redelivered });
      void delivery.ack();
    });
    await waitFor(() => redelivered.length >= 5, { timeoutMs: REDELIVER_MS + 15_000, message: 'the five unsettled messages redelivered' });
    assert.deepEqual(redelivered.map((r) => r.seq).sort(), [0, 1, 2, 3, 4]);
    assert.ok(redelivered.every((r) => r.redelivered), 'all flagged as redelivered');
    // Settling on the closed consumption is harmless: it resolves, the next consumption already has them.
    await Promise.all(held.map((d) => d.ack()));
  });

  test(`${kind}: the acks channel is separate from the events channel`, { timeout: 60_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    const open = tracker(t);
    const source = unique('src');
    const group = unique('grp');
    open.removeAfter(kind, source, [group]);
    const transport = await open.transport(kind);
    const events: string[] = [];
    const acks: string[] = [];
    await open.consume(transport, 'events', source, group, 10, (d) => {
      events.push(parse(d).key);
      void d.ack();
    });
    await open.consume(transport, 'acks', source, group, 10, (d) => {
      acks.push(parse(d).key);
      void d.ack();
    });
    // The ack goes first: had it reached the events channel, it would arrive there before the event.
    await transport.publish('acks', [message(source, 'an-ack', 0, 'herald.ack')]);
    await transport.publish('events', [message(source, 'an-event', 0)]);
    await waitFor(() => events.length > 0 && acks.length > 0, { message: 'one message on each channel' });
    assert.deepEqual(events, ['an-event']);
    assert.deepEqual(acks, ['an-ack']);
  });

  test(`${kind}: publish and consume reject with TransportError, quickly, when the broker is unreachable`, { timeout: 30_000 }, async (t) => {
    const open = tracker(t);
    const url = { rabbitmq: 'amqp://guest:guest@127.0.0.1:1', nats: '127.0.0.1:1', redis: 'redis://127.0.0.1:1' }[kind];
    const transport = await open.transport(kind, { url, timeoutMs: 2000 });
    const source = unique('src');
    for (let attempt = 0; attempt < 2; attempt++) {
      const { error, ms } = await rejection(transport.publish('events', [message(source, 'k', attempt)]));
      assert.ok(error instanceof TransportError, `publish: ${String(error)}`);
      assert.equal(error.code, 'HERALD_TRANSPORT');
      assert.ok(ms < 3000, `publish rejected after ${ms} ms`);
    }
    const { error, ms } = await rejection(transport.consume({ channel: 'events', source, group: 'g', prefetch: 10 }, () => {}));
    assert.ok(error instanceof TransportError, `consume: ${String(error)}`);
    assert.ok(ms < 3000, `consume rejected after ${ms} ms`);
    const health = transport.health();
    assert.equal(health.connected, false);
    assert.ok(health.lastError, 'the last error is reported');
  });

  test(`${kind}: broker stopped and started — publish fails meanwhile, then succeeds, and a running consumption resumes`, { timeout: 180_000 }, async (t) => {
    if (!(await requireBroker(kind, t))) return;
    let url: string | undefined;
    let control = { stop: () => stopBroker(kind), start: () => startBroker(kind) };
    if (kind === 'redis') {
      // The shared Redis keeps nothing on disk; a private one with AOF (fsync always) survives a restart.
      const server = await startPrivateRedis(6392);
      t.after(() => server.dispose());
      url = server.url;
      control = { stop: () => server.stop(), start: () => server.start() };
    }
    const open = tracker(t);
    const source = unique('src');
    const group = unique('grp');
    // The private Redis is deleted with its data; the shared brokers keep what is not removed.
    if (kind !== 'redis') open.removeAfter(kind, source, [group]);
    const publisher = await open.transport(kind, url ? { url } : {});
    const consumer = await open.transport(kind, url ? { url } : {});
    const received = new Set<number>();
    await open.consume(consumer, 'events', source, group, 20, (d) => {
      received.add(parse(d).seq);
      void d.ack();
    });
    await publisher.publish('events', [0, 1, 2].map((seq) => message(source, 'k', seq)));
    await waitFor(() => received.size === 3, { message: 'messages before the stop' });

    let down = false;
    t.after(async () => {
      if (down) await control.start();
    });
    down = true;
    await control.stop();
    const { error, ms } = await rejection(publisher.publish('events', [message(source, 'k', 100)]));
    assert.ok(error instanceof TransportError, `publish while down: ${String(error)}`);
    assert.ok(ms < 10_000, `publish rejected after ${ms} ms`);
    await waitFor(() => !publisher.health().connected && !consumer.health().connected, { message: 'both transports report the outage' });
    assert.ok(publisher.health().lastError);

    await control.start();
    down = false;
    // The clients reconnect on their own schedule: publishing fails until then, and then succeeds.
    const seqs = [10, 11, 12, 13, 14];
    const batch = seqs.map((seq) => message(source, 'k', seq));
    await waitFor(() => publisher.publish('events', batch).then(() => true, () => false), {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: 'publish to succeed after the restart',
    });
    await waitFor(() => seqs.every((seq) => received.has(seq)), {
      timeoutMs: 30_000,
      message: 'the consumption started before the stop to receive what was published after the restart',
    });
    await waitFor(() => publisher.health().connected && consumer.health().connected, { timeoutMs: 15_000, message: 'both healthy again' });
  });
}
