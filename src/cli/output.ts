/** What commands print: aligned tables for people, JSON for scripts, progress on stderr. */

export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => unknown;
  /** Right-align (numbers). */
  readonly right?: boolean;
}

/** An aligned text table; cells are made printable (no control characters from stored data). */
export function table<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** One value as a table cell. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return printable.length > 80 ? `${printable.slice(0, 79)}…` : printable;
}

/** JSON for `--json`: dates as ISO strings, bigints as strings. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

/** Where a command writes: injectable so tests can capture it. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress bars redraw in place). */
  readonly interactive: boolean;
}

export const processOutput: Output = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
  interactive: Boolean(process.stderr.isTTY),
};

/** A progress bar on stderr: redrawn in place on a terminal, a line per 10 % otherwise. */
export class Progress {
  private lastTenth = -1;
  constructor(
    private readonly output: Output,
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const ratio = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const bar = `${'#'.repeat(Math.round(ratio * 30)).padEnd(30, '.')}`;
    const text = `${this.label} [${bar}] ${done}/${this.total}`;
    if (this.output.interactive) {
      process.stderr.write(`\r${text}`);
      if (ratio === 1) process.stderr.write('\n');
      return;
    }
    const tenth = Math.floor(ratio * 10);
    if (tenth !== this.lastTenth) {
      this.lastTenth = tenth;
      this.output.err(text);
    }
  }
}
