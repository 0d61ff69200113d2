/** A stream entry as read: id and fields (`null` fields: the entry was trimmed or deleted). */
export type Entry = { readonly id: string; readonly fields: Buffer[] | null };

/** Parses an XREADGROUP reply (`[[key, entries]]` or null) into entries. */
export function streamEntries(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const [stream] = reply as [[Buffer, unknown]];
  return entryList(stream[1]);
}

/** Parses a list of `[id, fields]` (fields `null` for a deleted entry). */
export function entryList(list: unknown): Entry[] {
  if (!Array.isArray(list)) return [];
  return (list as [Buffer, Buffer[] | null][]).filter(Array.isArray).map(([id, fields]) => ({ id: id.toString(), fields: Array.isArray(fields) ? fields : null }));
}

/** The value of the field `name` in an entry's `[name, value, …]` list. */
export function field(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1];
  return undefined;
}
