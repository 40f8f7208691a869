/**
 * Test harness for the transaction layer: parsed requests and responses
 * built from text, a layer on a ManualClock whose transaction user records
 * every call, and a recording client transaction user.
 */
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { createResponse } from '../../../src/sip/response.js';
import { serialize } from '../../../src/sip/serializer.js';
import { ManualClock } from '../../../src/util/clock.js';
import type { Flow } from '../../../src/transport/transport.js';
import {
  TransactionLayer,
  newBranch,
  type ClientTransaction,
  type ClientTransactionUser,
  type ServerTransaction,
  type ServerTransactionError,
  type TransactionLayerOptions,
} from '../../../src/transaction/transaction-layer.js';
import { FakeFlow } from '../../support/fake-flow.js';
import type { TransportProtocol } from '../../../src/transport/transport.js';

export interface RequestOptions {
  method?: string;
  uri?: string;
  /** null: no branch parameter at all */
  branch?: string | null;
  sentBy?: string;
  transport?: string;
  /** Via lines below the top one */
  lowerVias?: string[];
  callId?: string;
  /** null: no From tag */
  fromTag?: string | null;
  toTag?: string;
  cseq?: number;
  cseqMethod?: string;
  /** extra header lines, without CRLF */
  headers?: string[];
}

/** A request as if parsed off the wire. */
export function request(o: RequestOptions = {}): SipRequest {
  const method = o.method ?? 'OPTIONS';
  const branch = o.branch === undefined ? newBranch() : o.branch;
  const lines = [
    `${method} ${o.uri ?? 'sip:bob@example.com'} SIP/2.0`,
    `Via: SIP/2.0/${o.transport ?? 'UDP'} ${o.sentBy ?? 'client.example.com:5060'}${branch === null ? '' : `;branch=${branch}`}`,
    ...(o.lowerVias ?? []).map((v) => `Via: ${v}`),
    'Max-Forwards: 70',
    `From: "Alice" <sip:alice@example.com>${o.fromTag === null ? '' : `;tag=${o.fromTag ?? 'a1'}`}`,
    `To: <sip:bob@example.com>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'call-1@client.example.com'}`,
    `CSeq: ${o.cseq ?? 1} ${o.cseqMethod ?? method}`,
    ...(o.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parse(lines.join('\r\n')) as SipRequest;
}

/** Re-parses a message we built, so it looks received. */
export function reparse<T extends SipRequest | SipResponse>(msg: T): T {
  return parse(serialize(msg).toString('latin1')) as T;
}

export function parse(text: string): SipRequest | SipResponse {
  const r = parseMessage(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error(`test message did not parse: ${r.error.code}`);
  return r.message;
}

/** A response to `req` as a peer would send it (parsed), with a fixed To tag unless given. */
export function response(req: SipRequest, status: number, toTag = 'b1'): SipResponse {
  return reparse(createResponse(req, status, { toTag }));
}

/** The ACK a UAC sends for a non-2xx final response (same branch, To from the response, §17.1.1.3). */
export function ackFor(invite: SipRequest, res: SipResponse, branch?: string): SipRequest {
  const via = invite.topVia()!;
  return request({
    method: 'ACK',
    uri: invite.uri,
    branch: branch ?? via.branch ?? null,
    sentBy: via.port === undefined ? via.host : `${via.host}:${via.port}`,
    transport: via.transport,
    callId: invite.callId()!,
    fromTag: invite.fromTag() ?? null,
    ...(res.toTag() !== undefined ? { toTag: res.toTag()! } : {}),
    cseq: invite.cseq()!.seq,
  });
}

export interface Recorded {
  requests: Array<{ req: SipRequest; tx: ServerTransaction }>;
  cancels: Array<{ cancel: SipRequest; tx: ServerTransaction; inviteTx: ServerTransaction | undefined }>;
  acks: Array<{ ack: SipRequest; flow: Flow; inviteTx: ServerTransaction | undefined }>;
  strays: SipResponse[];
  errors: Array<{ tx: ServerTransaction; error: ServerTransactionError }>;
}

export interface Harness {
  clock: ManualClock;
  layer: TransactionLayer;
  rec: Recorded;
  /** what the TU does with each new request (default: nothing) */
  onRequest: (req: SipRequest, tx: ServerTransaction) => void;
  flow(protocol?: TransportProtocol): FakeFlow;
}

export function harness(opts: Partial<TransactionLayerOptions> & { withCancelHook?: boolean } = {}): Harness {
  const clock = new ManualClock();
  const rec: Recorded = { requests: [], cancels: [], acks: [], strays: [], errors: [] };
  const { withCancelHook = true, ...layerOpts } = opts;
  const h: Harness = {
    clock,
    rec,
    onRequest: () => {},
    flow: (protocol = 'UDP') => new FakeFlow({ protocol, now: () => clock.now() - start }),
    layer: undefined as unknown as TransactionLayer,
  };
  const start = clock.now();
  h.layer = new TransactionLayer({
    clock,
    sendResponse: (_res, bytes, flow) => flow.send(bytes),
    sendRequest: (_req, bytes, dest) => dest.flow!.send(bytes),
    user: {
      onRequest: (req, tx) => {
        rec.requests.push({ req, tx });
        h.onRequest(req, tx);
      },
      ...(withCancelHook
        ? { onCancel: (cancel: SipRequest, tx: ServerTransaction, inviteTx: ServerTransaction | undefined) => rec.cancels.push({ cancel, tx, inviteTx }) }
        : {}),
      onAck: (ack, flow, inviteTx) => rec.acks.push({ ack, flow, inviteTx }),
      onStrayResponse: (res) => rec.strays.push(res),
      onServerTransactionError: (tx, error) => rec.errors.push({ tx, error }),
    },
    ...layerOpts,
  });
  return h;
}

export interface RecordingClientUser extends ClientTransactionUser {
  responses: SipResponse[];
  statuses: number[];
  terminated: ClientTransaction[];
}

export function clientUser(): RecordingClientUser {
  const u: RecordingClientUser = {
    responses: [],
    statuses: [],
    terminated: [],
    onResponse(res) {
      u.responses.push(res);
      u.statuses.push(res.status);
    },
    onTerminated(tx) {
      u.terminated.push(tx);
    },
  };
  return u;
}

/** Title-case an RFC state name for test titles: 'completed' → 'Completed'. */
export function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Representative status codes of each class the tables distinguish. */
export const STATUSES = {
  '1xx': [100, 180, 183],
  '2xx': [200, 202],
  '300-699': [300, 302, 404, 486, 500, 603],
  '200-699': [200, 202, 302, 404, 500, 603],
} as const;
