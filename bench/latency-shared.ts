/**
 * The latency benchmark's load shape and open-loop writer, shared by the in-process run and the
 * child writer process (bench/latency-writer.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Herald, NewEvent } from '../src/index.js';
import { QUICK, openLoop, orderPayload } from './lib.js';

/**
 * 1000 events/s as 1000 independent transactions/s of one event each (one command → one event,
 * a new order stream each), fired open-loop on a fixed schedule: a slow commit does not delay
 * the next request, as with independent web requests.
 */
export const LOAD = {
  transactionsPerSecond: 1000,
  eventsPerTransaction: 1,
  warmupMs: QUICK ? 1000 : 2000,
  measureMs: QUICK ? 3000 : 10_000,
} as const;

/** Commit times (wall clock, ms) of the events of transactions scheduled in the measured window. */
export interface WriterOutcome {
  commits: [eventId: string, committedAt: number][];
  transactions: number;
  seconds: number;
  /** How far the schedule fell behind at worst (ms): the writer could not fire on time. */
  maxBehindMs: number;
}

/**
 * Runs the load against `herald` through `herald.transaction()`: the commit time is taken when
 * `transaction()` resolves, i.e. right after COMMIT returned.
 */
export async function runOpenLoopWriter(herald: Herald): Promise<WriterOutcome> {
  const { transactionsPerSecond, eventsPerTransaction, warmupMs, measureMs } = LOAD;
  const total = Math.round(((warmupMs + measureMs) / 1000) * transactionsPerSecond);
  const firstMeasured = Math.round((warmupMs / 1000) * transactionsPerSecond);
  const { commits, seconds, maxBehindMs } = await openLoop({
    total,
    perSecond: transactionsPerSecond,
    firstMeasured,
    write: async (i) => {
      const streamId = `order-${randomUUID()}`;
      const events: NewEvent[] = Array.from({ length: eventsPerTransaction }, (_, k) => ({
        type: 'OrderPlaced',
        data: orderPayload(streamId, i * eventsPerTransaction + k),
      }));
      return (await herald.transaction((tx) => herald.append(tx, streamId, events))).eventIds;
    },
  });
  return { commits, transactions: total, seconds, maxBehindMs };
}
