import { InvalidIdentifierError } from '../errors.js';

// Lower-case, unquoted-style names only: they read the same in psql with or without quotes,
// and 63 bytes is PostgreSQL's NAMEDATALEN limit.
const SQL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Validates a schema/table name taken from configuration. Throws {@link InvalidIdentifierError}. */
export function validateSqlName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !SQL_NAME.test(value)) {
    throw new InvalidIdentifierError(what, value, 'use 1-63 characters: lower-case letters, digits and _, not starting with a digit');
  }
  if (value.startsWith('pg_')) {
    throw new InvalidIdentifierError(what, value, "names starting with 'pg_' are reserved by PostgreSQL");
  }
  return value;
}

/** Quotes an identifier for SQL text. Always used, even on validated names, as a second fence. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

// Subscription names are values (never spliced into SQL) but show up in logs, CLIs and URLs.
const SUBSCRIPTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,199}$/;

/** Validates a subscription name: 1-200 characters of letters, digits and `_ . : - /`. */
export function validateSubscriptionName(value: unknown): string {
  if (typeof value !== 'string' || !SUBSCRIPTION_NAME.test(value)) {
    throw new InvalidIdentifierError(
      'subscription name',
      value,
      'use 1-200 characters: letters, digits and _ . : - /, starting with a letter or digit',
    );
  }
  return value;
}

// Names of the application's own tables and columns (an outbox table, say): any case, as an ORM may
// have created them; always quoted in SQL text.
const EXISTING_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Validates the name of an existing table, schema or column of the application's: 1-63 letters, digits, `_` or `$`. */
export function validateExistingName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !EXISTING_NAME.test(value)) {
    throw new InvalidIdentifierError(what, value, 'use 1-63 characters: letters, digits, _ and $, not starting with a digit or $');
  }
  return value;
}
