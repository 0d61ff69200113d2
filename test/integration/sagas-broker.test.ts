/**
 * A saga moved by a broker consumer, through a real RabbitMQ: context A (checkout) relays its log
 * to the broker; context B (payments) consumes it with the saga's `consumerHandlers()`, so A's
 * events start and complete a saga instance in B, in the consumer's transaction with B's inbox.
 * The same messages published again (a relay that did not see its confirms publishes a page
 * again) reach B and are dropped by the inbox: the saga does not move twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHerald, type Herald, type Transport } from '../../src/index.js';
import { registerSaga, type SagaDefinition } from '../../src/sagas/index.js';
import { encodeCloudEvent } from '../../src/transports/cloudevents.js';
import { brokerUrls, requireBroker } from '../helpers/brokers.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

const CONSUMER = 'payments.from-checkout';

type Payment = { paymentId: string; amount: number; stage: 'new' | 'charging' | 'receipted' };

/** In B: a PaymentRequested (from A) starts an instance that asks for a charge and waits; PaymentConfirmed completes it with a receipt. */
const paymentSaga: SagaDefinition<Payment> = {
  name: 'payment',
  initialState: () => ({ paymentId: '', amount: 0, stage: 'new' }),
  on: {
    PaymentRequested: {
      starts: true,
      key: (e) => (e.data as { paymentId: string }).paymentId,
      async handle(_state, event, ctx) {
        const { paymentId, amount } = event.data as { paymentId: string; amount: number };
        await ctx.append(`charges-${paymentId}`, { type: 'ChargeCard', data: { paymentId, amount } });
        ctx.done('charge');
        ctx.schedule('give-up', { ms: 3_600_000 }, { paymentId });
        return { paymentId, amount, stage: 'charging' };
      },
    },
    PaymentConfirmed: {
      key: (e) => (e.data as { paymentId: string }).paymentId,
      async handle(state, _event, ctx) {
        ctx.cancel('give-up');
        await ctx.append(`receipts-${ctx.key}`, { type: 'SendReceipt', data: { paymentId: ctx.key, amount: state.amount } });
        ctx.complete();
        return { ...state, stage: 'receipted' };
      },
    },
  },
};

test('a saga in context B is started and completed by events of context A through RabbitMQ; a redelivered message does not move it twice', { timeout: 120_000 }, async (t) => {
  if (!(await requireBroker('rabbitmq', t))) return;
  const { rabbitmq } = await import('../../src/transports/rabbitmq.js');
  const pool = createPool(10);
  const a = uniqueContext('sgb_a');
  const b = uniqueContext('sgb_b');
  const heralds: Herald[] = [];
  const transports: Transport[] = [];
  // The consumer's queue is declared before the first publish: an exchange drops what no queue is bound for.
  const transport = () => {
    const made = rabbitmq({ url: brokerUrls.rabbitmq, declareGroups: (_source, channel) => (channel === 'events' ? [CONSUMER] : ['sender']) });
    transports.push(made);
    return made;
  };
  t.after(async () => {
    for (const h of heralds) await h.stop();
    for (const tr of transports) await tr.close();
    const { connect } = await import('amqplib');
    const connection = await connect(brokerUrls.rabbitmq, { timeout: 5000 });
    connection.on('error', () => {});
    const channel = await connection.createChannel();
    for (const name of [`herald.${a}.${CONSUMER}`, `herald.${a}.acks.sender`]) await channel.deleteQueue(name);
    for (const name of [`herald.${a}`, `herald.${a}.acks`]) await channel.deleteExchange(name);
    await connection.close();
    for (const c of [a, b]) await dropContext(pool, c);
    await pool.end();
  });

  const checkout = createHerald({ pool, context: a, pollMs: 50 });
  const payments = createHerald({ pool, context: b, pollMs: 50 });
  heralds.push(checkout, payments);
  await checkout.migrate();
  await payments.migrate();
  checkout.relay({ transport: transport(), expectedConsumers: [CONSUMER] });
  // The saga registered in B runs on B's log too; here only the consumer moves it.
  const { inspect, consumerHandlers } = registerSaga(payments, paymentSaga);
  payments.consume({ transport: transport(), name: CONSUMER, source: a, handlers: consumerHandlers(), acknowledgeEveryMs: 100, sweepEveryMs: 100 });
  await payments.start();
  await checkout.start();

  // Started by A's event: B asks for the charge and waits, with a pending timeout.
  await checkout.append('payment-p1', { type: 'PaymentRequested', data: { paymentId: 'p1', amount: 4200 } }, { correlationId: 'checkout-77' });
  const started = await waitFor(async () => inspect.get('payment', 'p1'), { timeoutMs: 30_000, message: 'the instance started in B' });
  assert.deepEqual([started.status, started.state, started.steps, started.version], ['active', { paymentId: 'p1', amount: 4200, stage: 'charging' }, ['charge'], 1]);
  assert.deepEqual(started.timeouts.map((x) => [x.name, x.data]), [['give-up', { paymentId: 'p1' }]]);
  const [requested] = await checkout.readStream('payment-p1');
  const [charge] = await payments.readStream('charges-p1');
  assert.equal(charge?.type, 'ChargeCard');
  assert.deepEqual([charge!.metadata.causationId, charge!.metadata.correlationId], [requested!.metadata.eventId, 'checkout-77'], 'caused by A\'s event, in its conversation');

  // Continued and completed by A's next event.
  await checkout.append('payment-p1', { type: 'PaymentConfirmed', data: { paymentId: 'p1' } }, { correlationId: 'checkout-77' });
  const completed = await waitFor(async () => {
    const i = await inspect.get('payment', 'p1');
    return i?.status === 'completed' ? i : undefined;
  }, { timeoutMs: 30_000, message: 'the instance completed in B' });
  assert.deepEqual([completed.state, completed.version, completed.timeouts], [{ paymentId: 'p1', amount: 4200, stage: 'receipted' }, 2, []]);
  assert.deepEqual((await payments.readStream('receipts-p1')).map((e) => [e.type, e.data]), [['SendReceipt', { paymentId: 'p1', amount: 4200 }]]);
  const { rows: inbox } = await pool.query<{ message_id: string }>(`SELECT message_id FROM "${b}".inbox WHERE consumer = $1 ORDER BY message_id`, [CONSUMER]);
  const sent = await checkout.readStream('payment-p1');
  assert.deepEqual(inbox.map((r) => r.message_id), sent.map((e) => e.metadata.eventId).sort(), 'both messages recorded in B\'s inbox');
  const consumerStatus = async () => (await payments.status()).consumers.find((c) => c.name === CONSUMER)!;
  const before = await consumerStatus();
  assert.equal(before.handled, 2);

  // The same two messages again on the broker, as a relay publishes a page again after a lost confirm.
  const again = transport();
  await again.publish('events', sent.map((event) => ({ id: event.metadata.eventId, source: a, type: event.type, key: event.metadata.streamId, body: encodeCloudEvent(a, event) })));
  await waitFor(async () => (await consumerStatus()).duplicates >= before.duplicates + 2, { timeoutMs: 30_000, message: 'both redeliveries reached B and were dropped' });
  const after = await consumerStatus();
  assert.equal(after.handled, before.handled, 'nothing handled twice');
  const instance = await inspect.get('payment', 'p1');
  assert.deepEqual([instance?.status, instance?.version, instance?.state], ['completed', 2, completed.state], 'the saga did not move again');
  assert.deepEqual(await inspect.unmatched('payment'), [], 'the saga never saw them: no late event for a finished instance');
  assert.deepEqual((await payments.readStream('charges-p1')).map((e) => e.type), ['ChargeCard']);
  assert.deepEqual((await payments.readStream('receipts-p1')).map((e) => e.type), ['SendReceipt']);
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${b}".inbox WHERE consumer = $1`, [CONSUMER]);
  assert.equal(rows[0]!.n, 2);
});
