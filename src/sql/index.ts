export { type SqlExecutor, pgExecutor } from './executor.js';
export { validateSqlName, validateSubscriptionName, quoteIdent } from './identifiers.js';
