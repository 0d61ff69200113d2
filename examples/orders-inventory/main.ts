/**
 * `npm start`: runs the orders/inventory example on DATABASE_URL, or on an embedded PostgreSQL
 * kept in .herald/postgres when DATABASE_URL is not set.
 */
import { openDatabase } from '../../src/index.js';
import { runExample } from './app.js';

const db = await openDatabase();
console.log(db.embedded ? `Started an embedded PostgreSQL (${db.url})` : 'Using DATABASE_URL');
try {
  const statuses = await runExample(db.pool, (line) => console.log(line));
  console.log('final order statuses:', statuses);
} finally {
  await db.close();
}
