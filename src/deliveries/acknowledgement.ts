import { randomUUID } from 'node:crypto';
import { MalformedMessageError } from '../errors.js';

/**
 * A delivery acknowledgement: a consumer tells the sending context which of its event numbers it
 * handled (or deliberately skipped), as ranges. Sent in batches over the broker's `acks` channel,
 * as a CloudEvent of type {@link ACK_TYPE}. Idempotent: receiving one twice changes nothing.
 */
export interface Acknowledgement {
  readonly consumer: string;
  /** The sending context the numbers belong to. */
  readonly source: string;
  readonly ranges: readonly AckRange[];
}

/** Event numbers `first…last` (inclusive), handled between `firstHandledAt` and `lastHandledAt`. */
export interface AckRange {
  readonly first: number;
  readonly last: number;
  readonly firstHandledAt: Date;
  readonly lastHandledAt: Date;
}

export const ACK_TYPE = 'herald.delivery.acknowledged';

/** Folds handled event numbers into ranges of consecutive numbers. Pure. */
export function toRanges(receipts: readonly { eventNumber: number; handledAt: Date }[]): AckRange[] {
  const sorted = [...receipts].sort((a, b) => a.eventNumber - b.eventNumber);
  const ranges: { first: number; last: number; firstHandledAt: Date; lastHandledAt: Date }[] = [];
  for (const r of sorted) {
    const current = ranges[ranges.length - 1];
    if (current && r.eventNumber <= current.last + 1) {
      current.last = Math.max(current.last, r.eventNumber);
      if (r.handledAt < current.firstHandledAt) current.firstHandledAt = r.handledAt;
      if (r.handledAt > current.lastHandledAt) current.lastHandledAt = r.handledAt;
    } else ranges.push({ first: r.eventNumber, last: r.eventNumber, firstHandledAt: r.handledAt, lastHandledAt: r.handledAt });
  }
  return ranges;
}

export function encodeAcknowledgement(ack: Acknowledgement): Buffer {
  return Buffer.from(
    JSON.stringify({
      specversion: '1.0',
      id: randomUUID(),
      source: `/herald/consumers/${ack.consumer}`,
      type: ACK_TYPE,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: {
        consumer: ack.consumer,
        source: ack.source,
        ranges: ack.ranges.map((r) => [r.first, r.last, r.firstHandledAt.toISOString(), r.lastHandledAt.toISOString()]),
      },
    }),
  );
}

/** Parses an acknowledgement; throws {@link MalformedMessageError} naming the problem. Pure. */
export function decodeAcknowledgement(body: Buffer): Acknowledgement {
  let parsed: { type?: unknown; data?: { consumer?: unknown; source?: unknown; ranges?: unknown } };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new MalformedMessageError('acknowledgement is not JSON');
  }
  if (parsed?.type !== ACK_TYPE) throw new MalformedMessageError(`acknowledgement type must be ${ACK_TYPE}`);
  const data = parsed.data;
  if (typeof data?.consumer !== 'string' || data.consumer.length === 0 || data.consumer.length > 200) throw new MalformedMessageError('acknowledgement consumer must be a string of 1-200 characters');
  if (typeof data.source !== 'string' || data.source.length === 0) throw new MalformedMessageError('acknowledgement source must be a string');
  if (!Array.isArray(data.ranges)) throw new MalformedMessageError('acknowledgement ranges must be an array');
  const ranges = data.ranges.map((r: unknown): AckRange => {
    if (!Array.isArray(r) || r.length !== 4) throw new MalformedMessageError('acknowledgement range must be [first, last, firstHandledAt, lastHandledAt]');
    const [first, last, from, to] = r as [unknown, unknown, unknown, unknown];
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || (first as number) < 1 || (last as number) < (first as number)) {
      throw new MalformedMessageError(`acknowledgement range ${JSON.stringify(r)} is not an interval of event numbers`);
    }
    const firstHandledAt = new Date(String(from));
    const lastHandledAt = new Date(String(to));
    if (Number.isNaN(firstHandledAt.getTime()) || Number.isNaN(lastHandledAt.getTime())) throw new MalformedMessageError('acknowledgement range times are not timestamps');
    return { first: first as number, last: last as number, firstHandledAt, lastHandledAt };
  });
  return { consumer: data.consumer, source: data.source, ranges };
}
