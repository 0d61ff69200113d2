import { createHerald, openDatabase } from '../src/index.js';
const db = await openDatabase();
const s = 'bench_fncost_tmp';
try {
  await db.pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await createHerald({ pool: db.pool, context: s }).migrate();
  await db.pool.query(`CREATE TABLE ${s}.outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL, aggregate_id text NOT NULL, event_type text NOT NULL, payload jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', occurred_at timestamptz NOT NULL DEFAULT now(), dispatched_at timestamptz NULL)`);
  await db.pool.query(`CREATE INDEX ON ${s}.outbox (dispatched_at) WHERE dispatched_at IS NULL`);
  const payload = `{"orderId":"x","customerId":"customer-1","sku":"SKU-0001","qty":2,"unitPriceCents":1999,"currency":"EUR"}`;
  const bodiesFor = (round: number): Record<string, string> => ({
    outbox_insert: `INSERT INTO ${s}.outbox (event_id, aggregate_id, event_type, payload, metadata) VALUES (gen_random_uuid(), 'order-' || i || '-' || ${round}, 'OrderPlaced', '${payload}'::jsonb, '{}');`,
    events_insert: `INSERT INTO ${s}.events (event_id, stream_id, stream_version, event_type, data, metadata) VALUES (gen_random_uuid(), 'order-' || i || '-' || ${round} || '-d', 1, 'OrderPlaced', '${payload}'::jsonb, '{}');`,
    append_events: `PERFORM ${s}.append_events('order-' || i || '-' || ${round} || '-a', -1, jsonb_build_array(jsonb_build_object('id', gen_random_uuid(), 'type', 'OrderPlaced', 'data', '${payload}'::jsonb, 'metadata', '{}'::jsonb, 'causation', null, 'correlation', null)));`,
    lock_only: `PERFORM pg_advisory_xact_lock(hashtext('herald:x'), hashtext('order-' || i || '-' || ${round}));`,
    max_only: `PERFORM coalesce(max(stream_version), 0) FROM ${s}.events WHERE stream_id = 'order-' || i || '-' || ${round} || '-zz';`,
    build_json_only: `PERFORM jsonb_build_array(jsonb_build_object('id', gen_random_uuid(), 'type', 'OrderPlaced', 'data', '${payload}'::jsonb, 'metadata', '{}'::jsonb, 'causation', null, 'correlation', null));`,
  });
  const N = 20000;
  for (let round = 0; round < 2; round++) for (const [k, b] of Object.entries(bodiesFor(round))) {
    const c = await db.pool.connect();
    let us = 0;
    try {
      const t0 = performance.now();
      await c.query(`DO $$ BEGIN FOR i IN 1..${N} LOOP ${b} IF i % 500 = 0 THEN COMMIT; END IF; END LOOP; END $$`);
      us = ((performance.now() - t0) * 1000) / N;
    } finally { c.release(); }
    if (round === 1) console.log(k.padEnd(16), us.toFixed(1), 'µs/call');
  }
} finally { await db.pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`); await db.close(); }
