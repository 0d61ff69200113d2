/** The subset of a pino-compatible logger Herald writes to: `(object, message)` per level. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => {};
/** The default: says nothing. Pass `pino()` (or any logger of this shape) to see Herald's logs. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
