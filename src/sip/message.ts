/**
 * The SIP message model (RFC 3261 §7). A parsed message keeps the bytes it
 * arrived as: each header remembers where its line lies in `raw`, so the
 * serializer can write untouched headers as slices of the original buffer.
 * Typed header values are parsed when first asked for and cached until that
 * header is changed.
 *
 * Header names are stored in their lowercase long form ("v" → "via").
 * Header values are byte strings (latin1-decoded bytes, see header-values.ts).
 */
import { canonicalHeaderName, isListHeader, normalizeHeaderName, splitList, trimLws } from './header-names.js';
import {
  parseAuth,
  parseContact,
  parseContactBytes,
  parseCSeq,
  parseCSeqBytes,
  parseNameAddr,
  parseNameAddrBytes,
  parseUint,
  parseVia,
  parseViaBytes,
  type AuthValue,
  type ContactList,
  type ContactValue,
  type CSeq,
  type NameAddr,
  type Via,
} from './header-values.js';
import { parseUri, type Uri } from './uri.js';

export interface HeaderField {
  /** lowercase long name */
  readonly name: string;
  /** value, unfolded and trimmed */
  readonly value: string;
  /** byte offset of the line in the message's raw buffer, -1 for a header we created or changed */
  readonly start: number;
  /** byte offset just past the line's terminator in raw */
  readonly end: number;
  /**
   * byte offset in raw where `value` lies byte for byte, for a parsed line
   * (-1 when the value was unfolded; absent on a header we created): typed
   * values are then parsed from those bytes
   */
  readonly valueStart?: number;
  /** the name as it is written when the header is re-serialized */
  readonly writtenName?: string;
}

const NOT_PARSED = Symbol('not-parsed');
/** tokens() of a header the message does not have */
const NO_TOKENS: readonly string[] = Object.freeze([]);
/** paths() of a message without Path */
const NO_PATHS: readonly NameAddr[] = Object.freeze([]);

export abstract class SipMessage {
  abstract readonly isRequest: boolean;
  // The fields are declared here and set in the constructor: a class field
  // initializer defines its property (ES2022 semantics), which for this many
  // fields costs about twice as much per message as plain assignments.
  /** The bytes this message was parsed from (null for a message we built). */
  declare raw: Buffer | null;
  /**
   * The start line and header lines of raw as a latin1 string (offsets as in
   * raw; it may run on into the body), which the serializer copies untouched
   * lines from; null for a message we built.
   */
  declare rawHead: string | null;
  /** Offsets of the start line (including its CRLF) in raw; -1 once the start line changed. */
  declare startLineStart: number;
  declare startLineEnd: number;
  declare headers: HeaderField[];
  declare body: Buffer;
  // The typed values read for nearly every message, each in a field of its
  // own (NOT_PARSED until asked for): cheaper than a Map lookup and a Map per message.
  private declare tVia: Via[] | null | typeof NOT_PARSED;
  private declare tFrom: NameAddr | null | undefined | typeof NOT_PARSED;
  private declare tTo: NameAddr | null | undefined | typeof NOT_PARSED;
  private declare tCSeq: CSeq | null | undefined | typeof NOT_PARSED;
  private declare tContact: ContactList | null | undefined | typeof NOT_PARSED;
  private declare tContentLength: number | null | undefined | typeof NOT_PARSED;
  private declare tExpires: number | null | undefined | typeof NOT_PARSED;
  /** The other typed values, by header name; created when the first is asked for. */
  private declare typed: Map<string, unknown> | null;

  constructor() {
    this.raw = null;
    this.rawHead = null;
    this.startLineStart = -1;
    this.startLineEnd = -1;
    this.headers = [];
    this.body = EMPTY;
    // the typed-value fields, set in the same order on every message (one hidden class)
    this.releaseParsed();
  }

  // ------------------------------------------------------------ raw header access

  /** First value of a header: the whole first line's value, not split on commas. */
  get(name: string): string | undefined {
    const n = normalizeHeaderName(name);
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.name === n) return hs[i]!.value;
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Every value of a header, in order; list headers (§7.3.1) are split on their commas. */
  getAll(name: string): string[] {
    return this.valuesOf(normalizeHeaderName(name));
  }

  /** getAll for a name already in its lowercase long form. */
  private valuesOf(n: string): string[] {
    const list = isListHeader(n);
    const out: string[] = [];
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i]!;
      if (h.name !== n) continue;
      if (!list) out.push(h.value);
      else if (h.value.indexOf(',') === -1) {
        // one value on the line: what splitList returns, without its array
        const t = trimLws(h.value);
        if (t) out.push(t);
      } else for (const v of splitList(h.value)) out.push(v);
    }
    return out;
  }

  /** The first line of a header, by its lowercase long name. */
  private field(n: string): HeaderField | undefined {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.name === n) return hs[i]!;
    return undefined;
  }

  /** get for a name already in its lowercase long form. */
  private first(n: string): string | undefined {
    return this.field(n)?.value;
  }

  /** A single-valued header's typed value (undefined when absent), parsed from raw when its bytes are there. */
  private parseFirst<T>(n: string, parse: (v: string, b: Uint8Array, at: number) => T | null, parseString: (v: string) => T | null): T | null | undefined {
    const h = this.field(n);
    if (h === undefined) return undefined;
    const at = h.valueStart;
    return this.raw !== null && at !== undefined && at >= 0 ? parse(h.value, this.raw, at) : parseString(h.value);
  }

  /**
   * Every value of a list header (those of valuesOf, in order), parsed; null
   * when any is malformed. A line holding one value is parsed from raw when
   * its bytes are there (a parsed value is trimmed already).
   */
  private parseAll<T>(n: string, parse: (v: string, b: Uint8Array, at: number) => T | null, parseString: (v: string) => T | null): T[] | null {
    let out: T[] = [];
    const hs = this.headers;
    const raw = this.raw;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i]!;
      if (h.name !== n) continue;
      const v = h.value;
      let p: T | null;
      if (v.indexOf(',') !== -1) {
        for (const part of splitList(v)) {
          p = parseString(part);
          if (p === null) return null;
          out.push(p);
        }
        continue;
      }
      const at = h.valueStart;
      if (raw !== null && at !== undefined && at >= 0) {
        if (v.length === 0) continue;
        p = parse(v, raw, at);
      } else {
        const t = trimLws(v);
        if (!t) continue;
        p = parseString(t);
      }
      if (p === null) return null;
      // the usual single value: an array of one, not an empty one grown by push
      if (out.length === 0) out = [p];
      else out.push(p);
    }
    return out;
  }

  /** Number of header lines (not values) with this name. */
  countLines(name: string): number {
    const n = normalizeHeaderName(name);
    let c = 0;
    for (const h of this.headers) if (h.name === n) c++;
    return c;
  }

  /** Replaces every line of this header by one line with the given value (or removes it when undefined). */
  set(name: string, value: string | undefined): this {
    const n = normalizeHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    this.headers = this.headers.filter((h) => h.name !== n);
    if (value !== undefined) {
      const field = created(n, value, name);
      if (idx === -1) this.headers.push(field);
      else this.headers.splice(idx, 0, field);
    }
    this.forget(n);
    return this;
  }

  /** Adds a header line after all others. */
  append(name: string, value: string): this {
    const n = normalizeHeaderName(name);
    this.headers.push(created(n, value, name));
    this.forget(n);
    return this;
  }

  /** Adds a header line above the first line of the same name (or at the very top when there is none). */
  prepend(name: string, value: string): this {
    const n = normalizeHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    this.headers.splice(idx === -1 ? 0 : idx, 0, created(n, value, name));
    this.forget(n);
    return this;
  }

  /** Removes every line of a header. */
  remove(name: string): this {
    return this.set(name, undefined);
  }

  /**
   * Removes the first value of a list header (the topmost Via or Route) and
   * returns it. Only that line is rewritten when it held several values.
   */
  shift(name: string): string | undefined {
    const n = normalizeHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    if (idx === -1) return undefined;
    const h = this.headers[idx]!;
    const values = splitList(h.value);
    const first = values.shift();
    if (values.length === 0) this.headers.splice(idx, 1);
    else this.headers[idx] = created(n, values.join(', '), h.writtenName ?? canonicalHeaderName(n));
    this.forget(n);
    return first;
  }

  // ------------------------------------------------------------ typed, lazily parsed

  /**
   * Drops the typed values parsed so far (they are parsed again if asked
   * for). A transaction that keeps its request only to match retransmissions
   * calls this so the parsed objects do not live for Timer J.
   */
  releaseParsed(): void {
    this.tVia = NOT_PARSED;
    this.tFrom = NOT_PARSED;
    this.tTo = NOT_PARSED;
    this.tCSeq = NOT_PARSED;
    this.tContact = NOT_PARSED;
    this.tContentLength = NOT_PARSED;
    this.tExpires = NOT_PARSED;
    this.typed = null;
  }

  /** Drops the typed value of one header (after that header changed). */
  private forget(n: string): void {
    switch (n) {
      case 'via':
        this.tVia = NOT_PARSED;
        break;
      case 'from':
        this.tFrom = NOT_PARSED;
        break;
      case 'to':
        this.tTo = NOT_PARSED;
        break;
      case 'cseq':
        this.tCSeq = NOT_PARSED;
        break;
      case 'contact':
        this.tContact = NOT_PARSED;
        break;
      case 'content-length':
        this.tContentLength = NOT_PARSED;
        break;
      case 'expires':
        this.tExpires = NOT_PARSED;
        break;
      default:
        this.typed?.delete(n);
    }
  }

  private cached<T>(name: string, compute: () => T): T {
    const typed = (this.typed ??= new Map());
    const v = typed.get(name);
    if (v !== undefined || typed.has(name)) return v as T;
    const r = compute();
    typed.set(name, r);
    return r;
  }

  /**
   * Takes over another message's parsed Via values, for a message whose Via
   * lines were just copied from that one (a response built by
   * createResponse, §8.2.6.2): routing the response (§18.2.2) then parses
   * nothing again. The Via objects are shared, so neither message may change
   * them in place.
   */
  shareViasOf(other: SipMessage): void {
    if (other.tVia !== NOT_PARSED && other.tVia !== null) this.tVia = other.tVia;
  }

  /**
   * Rewrites the topmost Via value as `text`, the formatted form of `via`
   * after the caller changed that parsed value (vias()[0]) in place, e.g.
   * received and rport (§18.2.1). The parsed Vias are kept: nothing is
   * parsed again.
   */
  replaceTopVia(via: Via, text: string): void {
    const parsed = this.tVia;
    this.shift('via');
    this.prepend('via', text);
    if (parsed !== NOT_PARSED && parsed !== null && parsed[0] === via) this.tVia = parsed;
  }

  /** All Via values, topmost first; null when any is malformed. */
  vias(): Via[] | null {
    if (this.tVia === NOT_PARSED) this.tVia = this.parseAll('via', parseViaBytes, parseVia);
    return this.tVia;
  }

  topVia(): Via | null | undefined {
    const v = this.vias();
    if (v === null) return null;
    return v[0];
  }

  from(): NameAddr | null | undefined {
    if (this.tFrom === NOT_PARSED) this.tFrom = this.parseFirst('from', parseNameAddrBytes, parseNameAddr);
    return this.tFrom;
  }

  to(): NameAddr | null | undefined {
    if (this.tTo === NOT_PARSED) this.tTo = this.parseFirst('to', parseNameAddrBytes, parseNameAddr);
    return this.tTo;
  }

  fromTag(): string | undefined {
    return this.from()?.params.get('tag') ?? undefined;
  }

  toTag(): string | undefined {
    return this.to()?.params.get('tag') ?? undefined;
  }

  callId(): string | undefined {
    return this.first('call-id');
  }

  cseq(): CSeq | null | undefined {
    if (this.tCSeq === NOT_PARSED) this.tCSeq = this.parseFirst('cseq', parseCSeqBytes, parseCSeq);
    return this.tCSeq;
  }

  maxForwards(): number | null | undefined {
    return this.cached('max-forwards', () => parseSingle(this.get('max-forwards'), (v) => parseUint(v, 255)));
  }

  contentLength(): number | null | undefined {
    if (this.tContentLength === NOT_PARSED) this.tContentLength = parseSingle(this.first('content-length'), parseUint);
    return this.tContentLength;
  }

  contentType(): string | undefined {
    return this.get('content-type');
  }

  expires(): number | null | undefined {
    if (this.tExpires === NOT_PARSED) this.tExpires = parseSingle(this.get('expires'), (v) => parseUint(v));
    return this.tExpires;
  }

  minExpires(): number | null | undefined {
    return this.cached('min-expires', () => parseSingle(this.get('min-expires'), (v) => parseUint(v)));
  }

  /** Contact header: `*` or a list of contacts; undefined when absent, null when malformed. */
  contacts(): ContactList | null | undefined {
    if (this.tContact === NOT_PARSED) {
      // '*' never parses as a contact, so a list that parses has none
      const cs = this.parseAll<ContactValue>('contact', parseContactBytes, parseContact);
      if (cs !== null) this.tContact = cs.length === 0 ? undefined : { star: false, contacts: cs };
      else {
        // §10.2.2: '*' only alone; anything else that did not parse is malformed
        const all = this.valuesOf('contact');
        this.tContact = all.length === 1 && all[0] === '*' ? { star: true } : null;
      }
    }
    return this.tContact;
  }

  routes(): NameAddr[] | null {
    return this.cached('route', () => this.parseAll('route', parseNameAddrBytes, parseNameAddr));
  }

  recordRoutes(): NameAddr[] | null {
    return this.cached('record-route', () => this.parseAll('record-route', parseNameAddrBytes, parseNameAddr));
  }

  paths(): readonly NameAddr[] | null {
    // usually absent: then no list and no cache entry
    if (!this.has('path')) return NO_PATHS;
    return this.cached('path', () => this.parseAll('path', parseNameAddrBytes, parseNameAddr));
  }

  /** Option tags of Supported / Require / Proxy-Require / Unsupported, or methods of Allow. */
  tokens(name: 'supported' | 'require' | 'proxy-require' | 'unsupported' | 'allow'): readonly string[] {
    // usually absent: then no list and no cache entry
    if (!this.has(name)) return NO_TOKENS;
    return this.cached(name, () => this.getAll(name).map((t) => t.trim()));
  }

  /** Authorization, Proxy-Authorization, WWW-Authenticate or Proxy-Authenticate values, parsed. */
  auth(name: 'authorization' | 'proxy-authorization' | 'www-authenticate' | 'proxy-authenticate'): AuthValue[] | null {
    return this.cached(name, () => {
      const out: AuthValue[] = [];
      for (const h of this.headers) {
        if (h.name !== name) continue;
        const a = parseAuth(h.value);
        if (!a) return null;
        out.push(a);
      }
      return out;
    });
  }
}

export class SipRequest extends SipMessage {
  // declared and assigned in the constructor, not class fields (see SipMessage)
  declare readonly isRequest: true;
  private declare parsedUri: Uri | null | typeof NOT_PARSED;
  private declare _method: string;
  private declare _uri: string;

  constructor(method: string, uri: string) {
    super();
    this.isRequest = true;
    this.parsedUri = NOT_PARSED;
    this._method = method;
    this._uri = uri;
  }

  get method(): string {
    return this._method;
  }

  get uri(): string {
    return this._uri;
  }

  set uri(u: string) {
    this._uri = u;
    this.parsedUri = NOT_PARSED;
    this.startLineStart = -1;
  }

  /** The Request-URI, parsed (null when malformed). */
  requestUri(): Uri | null {
    if (this.parsedUri === NOT_PARSED) this.parsedUri = parseUri(this._uri);
    return this.parsedUri;
  }

  startLine(): string {
    return `${this._method} ${this._uri} SIP/2.0`;
  }
}

export class SipResponse extends SipMessage {
  declare readonly isRequest: false;
  declare readonly status: number;
  declare readonly reason: string;

  constructor(status: number, reason: string) {
    super();
    this.isRequest = false;
    this.status = status;
    this.reason = reason;
  }

  startLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }
}

export type AnyMessage = SipRequest | SipResponse;

export const EMPTY: Buffer = Buffer.alloc(0);

function created(name: string, value: string, _written: string): HeaderField {
  return { name, value, start: -1, end: -1, writtenName: canonicalHeaderName(name) };
}

function parseSingle<T>(v: string | undefined, parse: (v: string) => T | null): T | null | undefined {
  if (v === undefined) return undefined;
  return parse(v);
}
