/**
 * A copy of a string that shares no memory with the string it was cut
 * from. V8 represents a long substring as a view of its parent (and a
 * concatenation as a pair of its parts), so a value cut from a message and
 * kept for long — a transaction's key, a binding's Call-ID — would keep the
 * whole message text alive. Header text is latin1, so the round trip is exact.
 */
export function detached(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'latin1').toString('latin1');
}
