/**
 * Most bytes one stored log row holds. An append may bring more (up to the wire's limit): it is
 * kept as several rows, so a reader of the log holds a row at a time, never a whole append.
 */
export const LOG_ROW_BYTES = 256 * 1024;

/** `body` cut into rows of at most `max` bytes, each ending between UTF-8 characters (views, not copies). */
export function logRows(body: Buffer, max = LOG_ROW_BYTES): Buffer[] {
  const rows: Buffer[] = [];
  for (let start = 0; start < body.length; ) {
    let end = Math.min(start + max, body.length);
    while (end < body.length && end > start && (body[end]! & 0xc0) === 0x80) end--;
    // A "character" longer than `max` (bytes that are not UTF-8 at all) is cut where it stands.
    if (end === start) end = Math.min(start + max, body.length);
    rows.push(body.subarray(start, end));
    start = end;
  }
  return rows;
}
