/**
 * Helpers of the proxy integration and interop tests (issue 6):
 *
 *  - SIPp instances started in the background (a UAS that waits for the
 *    proxy's INVITE while a UAC calls), with a handle to await or stop them,
 *    their own error and message logs, and a readiness check (the port is
 *    taken) so that nothing is sent to a UAS that is not listening yet;
 *  - a REGISTER sent from a raw UDP or TCP socket on behalf of a UAS
 *    (`Contact: <sip:bob@127.0.0.1:port>`), answering an MD5 digest
 *    challenge when given a password;
 *  - the SIPp message log (-trace_msg) parsed into sent/received messages.
 *
 * Every wait is bounded; nothing resolves a host name (IP literals only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describeSipp, freeUdpPort, SIPP_DIR, type SippResult } from './sipp.js';
import { splitStream } from './sip-client.js';

export { SIPP_DIR, describeSipp, freeUdpPort, type SippResult };

const KEEP = 64 * 1024;

export type SippTransport = 'udp' | 'tcp';

/** SIPp's -t value for one socket of the transport. */
export function sippTransportFlag(t: SippTransport): string {
  return t === 'udp' ? 'u1' : 't1';
}

/** A TCP port that was free a moment ago on host (listen on 0, read it, close). */
export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, () => resolve());
  });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A port free for the transport: both UDP and TCP, so SIPp never trips on its other socket. */
export async function freePort(t: SippTransport, host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = t === 'udp' ? await freeUdpPort(host) : await freeTcpPort(host);
    if (await portIsFree(t === 'udp' ? 'tcp' : 'udp', port, host)) return port;
  }
  throw new Error('no free port found in 20 tries');
}

/** true when port can be bound on host for the protocol right now. */
async function portIsFree(t: SippTransport, port: number, host: string): Promise<boolean> {
  if (t === 'udp') {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const ok = await new Promise<boolean>((resolve) => {
      sock.once('error', () => resolve(false));
      sock.bind(port, host, () => resolve(true));
    });
    await new Promise<void>((r) => {
      try {
        sock.close(() => r());
      } catch {
        r();
      }
    });
    return ok;
  }
  const srv = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => resolve(true));
  });
  if (ok) await new Promise<void>((r) => srv.close(() => r()));
  return ok;
}

export interface SippProcessOptions {
  /** a name for the logs: <cwd>/<name>-errors.log, <cwd>/<name>-messages.log */
  name: string;
  /** the scenario file: a path, or a file name in test/interop/sipp */
  scenario: string;
  cwd: string;
  /** `host:port` to send to (UAC); omitted for a UAS */
  target?: string;
  /** -p: the local port (required for a UAS others must reach) */
  port: number;
  transport?: SippTransport;
  /** -m (default 1) */
  calls?: number;
  /** further arguments (-s, -key, -d, …) */
  args?: string[];
  /** SIPp's own -timeout (default 20 s) and our kill after timeoutMs (default SIPp's + 5 s) */
  sippTimeoutS?: number;
  timeoutMs?: number;
}

export interface SippProcess {
  readonly name: string;
  readonly port: number;
  readonly proc: ChildProcess;
  /** resolves when SIPp exits (or is killed) */
  readonly done: Promise<SippResult>;
  /** the message log (-trace_msg) parsed; [] when none was written */
  messages(): SippMessage[];
  /** kills it unless it has exited; resolves with its result */
  stop(): Promise<SippResult>;
}

/** Starts SIPp in the background with -trace_err and -trace_msg into cwd. */
export function startSipp(o: SippProcessOptions): SippProcess {
  const scenario = path.isAbsolute(o.scenario) ? o.scenario : path.join(SIPP_DIR, o.scenario);
  const errorFile = path.join(o.cwd, `${o.name}-errors.log`);
  const messageFile = path.join(o.cwd, `${o.name}-messages.log`);
  for (const f of [errorFile, messageFile]) fs.rmSync(f, { force: true });
  const sippTimeoutS = o.sippTimeoutS ?? 20;
  const args = [
    ...(o.target ? [o.target] : []),
    '-sf', scenario,
    '-i', '127.0.0.1',
    '-p', String(o.port),
    '-t', sippTransportFlag(o.transport ?? 'udp'),
    '-m', String(o.calls ?? 1),
    '-nostdin',
    '-trace_err', '-error_file', errorFile,
    '-trace_msg', '-message_file', messageFile,
    '-timeout', `${sippTimeoutS}s`, '-timeout_error',
    '-buff_size', '1048576',
    ...(o.args ?? []),
  ];
  const started = Date.now();
  const proc = spawn('sipp', args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killed = false;
  proc.stdout!.on('data', (c: Buffer) => {
    stdout = (stdout + c.toString('latin1')).slice(-KEEP);
  });
  proc.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('latin1')).slice(-KEEP);
  });
  const timer = setTimeout(() => {
    killed = true;
    proc.kill('SIGKILL');
  }, o.timeoutMs ?? (sippTimeoutS + 5) * 1000);
  const done = new Promise<SippResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
      clearTimeout(timer);
      let errors = '';
      try {
        errors = fs.readFileSync(errorFile, 'latin1').slice(-KEEP);
      } catch {
        // no error log: nothing unexpected happened
      }
      resolve({ code, signal, killed, stdout, stderr: stderr + extra, errors, durationMs: Date.now() - started });
    };
    proc.once('error', (err) => finish(null, null, `\ncannot run sipp: ${err.message}`));
    proc.once('close', (code, signal) => finish(code, signal));
  });
  return {
    name: o.name,
    port: o.port,
    proc,
    done,
    messages: () => readSippMessages(messageFile),
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        killed = true;
        proc.kill('SIGKILL');
      }
      return done;
    },
  };
}

/**
 * true when a socket of this network namespace is bound to 127.0.0.1:port
 * (UDP) or listens there (TCP), read from /proc/net/udp or /proc/net/tcp:
 * looking does not take the port (a probe bind could make SIPp's fail).
 */
export function isListening(transport: SippTransport, port: number): boolean {
  const table = fs.readFileSync(`/proc/net/${transport}`, 'latin1');
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const any = `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return table.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    if (f[1] !== local && f[1] !== any) return false;
    return transport === 'udp' || f[3] === '0A'; // 0A: TCP_LISTEN
  });
}

/** Resolves once SIPp holds its port, rejects after timeoutMs or when the process exits first. */
export async function waitListening(p: SippProcess, transport: SippTransport, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void p.done.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`${p.name} exited before listening:\n${describeSipp(await p.done)}`);
    if (isListening(transport, p.port)) return;
    if (Date.now() > deadline) throw new Error(`${p.name} not listening on ${transport} ${p.port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A SIPp UAS on a free port of the transport, started and listening. */
export async function startUas(o: Omit<SippProcessOptions, 'port' | 'target'> & { transport: SippTransport }): Promise<SippProcess> {
  const port = await freePort(o.transport);
  const p = startSipp({ ...o, port });
  await waitListening(p, o.transport);
  return p;
}

/** Stops every process given (those still running are killed). */
export async function stopAll(list: SippProcess[]): Promise<void> {
  await Promise.all(list.splice(0).map((p) => p.stop()));
}

/** A readable summary of several SIPp runs for an assertion message. */
export function describeAll(results: Array<[string, SippResult]>): string {
  return results.map(([n, r]) => `===== ${n} =====\n${describeSipp(r)}`).join('\n');
}

// ---------------------------------------------------------------------------
// The SIPp message log

export interface SippMessage {
  direction: 'sent' | 'received';
  transport: string;
  /** the SIP message, CRLF line ends */
  text: string;
  /** the request method or the response's status */
  method: string | null;
  status: number | null;
}

/** Parses SIPp's -trace_msg log: blocks after a dashed line, "UDP message sent (N bytes):" / "TCP message received [N] bytes :". */
export function readSippMessages(file: string): SippMessage[] {
  let log: string;
  try {
    log = fs.readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  const out: SippMessage[] = [];
  for (const block of log.split(/^-{20,}[^\n]*\n/m)) {
    const m = /^(\w+) message (sent|received)[^\n]*\n\n/.exec(block);
    if (!m) continue;
    const body = block.slice(m[0].length).replace(/\n$/, '');
    // a stream read may hold more than one message
    const texts = m[1] === 'UDP' ? [body] : splitStream(body).messages;
    for (const text of texts.length ? texts : [body]) {
      const status = /^SIP\/2\.0 (\d{3})/.exec(text);
      const method = /^([A-Z]+) \S+ SIP\/2\.0/.exec(text);
      out.push({
        direction: m[2] as 'sent' | 'received',
        transport: m[1]!,
        text,
        method: method ? method[1]! : null,
        status: status ? Number(status[1]) : null,
      });
    }
  }
  return out;
}

/** Every value of a header in a message (repeated headers and comma lists split; compact forms not handled). */
export function headerValues(text: string, name: string): string[] {
  const head = text.split('\r\n\r\n')[0]!;
  const values: string[] = [];
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i === -1 || line.slice(0, i).trim().toLowerCase() !== name.toLowerCase()) continue;
    // split on commas outside <> and quotes
    let depth = 0;
    let quoted = false;
    let start = i + 1;
    for (let j = i + 1; j <= line.length; j++) {
      const c = line[j];
      if (c === '"') quoted = !quoted;
      else if (!quoted && c === '<') depth++;
      else if (!quoted && c === '>') depth--;
      if (j === line.length || (c === ',' && depth === 0 && !quoted)) {
        const v = line.slice(start, j).trim();
        if (v) values.push(v);
        start = j + 1;
      }
    }
  }
  return values;
}

// ---------------------------------------------------------------------------
// REGISTER on behalf of a UAS

export interface RegisterOptions {
  /** the server's port for the transport (on 127.0.0.1) */
  serverPort: number;
  transport: SippTransport;
  user: string;
  domain: string;
  /** the Contact URI, e.g. sip:bob@127.0.0.1:5070 */
  contact: string;
  expires?: number;
  /** answers an MD5 digest challenge (401) when given */
  password?: string;
  timeoutMs?: number;
}

export interface RegisterResult {
  status: number;
  /** the final response */
  response: string;
  /** both responses when challenged */
  responses: string[];
}

let registerSeq = 0;

/** REGISTER user@domain with the contact from a fresh socket (closed afterwards); MD5 digest when a password is given. */
export async function registerContact(o: RegisterOptions): Promise<RegisterResult> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const conn = await openSipConnection(o.transport, o.serverPort);
  try {
    const callId = `reg-${process.pid}-${++registerSeq}-${randomBytes(4).toString('hex')}@127.0.0.1`;
    const tag = randomBytes(4).toString('hex');
    const requestUri = `sip:${o.domain}`;
    const build = (cseq: number, authorization?: string): string =>
      [
        `REGISTER ${requestUri} SIP/2.0`,
        `Via: SIP/2.0/${o.transport.toUpperCase()} 127.0.0.1:${conn.localPort};rport;branch=z9hG4bK-reg-${randomBytes(6).toString('hex')}`,
        'Max-Forwards: 70',
        `From: <sip:${o.user}@${o.domain}>;tag=${tag}`,
        `To: <sip:${o.user}@${o.domain}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: <${o.contact}>`,
        `Expires: ${o.expires ?? 300}`,
        ...(authorization ? [`Authorization: ${authorization}`] : []),
        'User-Agent: Switchboard proxy tests (register)',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    const responses: string[] = [];
    conn.send(build(1));
    let res = await conn.nextFinal(timeoutMs);
    responses.push(res);
    let status = statusOf(res);
    if (status === 401 && o.password !== undefined) {
      const authorization = digestAuthorization(res, 'REGISTER', requestUri, o.user, o.password);
      conn.send(build(2, authorization));
      res = await conn.nextFinal(timeoutMs);
      responses.push(res);
      status = statusOf(res);
    }
    return { status, response: res, responses };
  } finally {
    conn.close();
  }
}

function statusOf(text: string): number {
  const m = /^SIP\/2\.0 (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** An Authorization value answering the MD5 challenge of a 401 (qop=auth when offered). */
export function digestAuthorization(challengeResponse: string, method: string, uri: string, user: string, password: string): string {
  const challenges = headerLines(challengeResponse, 'www-authenticate');
  const md5 = challenges.find((c) => {
    const alg = /algorithm\s*=\s*"?([^",\s]+)/i.exec(c);
    return alg === null || alg[1]!.toUpperCase() === 'MD5';
  });
  if (!md5) throw new Error(`no MD5 challenge in:\n${challengeResponse}`);
  const param = (n: string): string | undefined => new RegExp(`${n}\\s*=\\s*(?:"([^"]*)"|([^,\\s]+))`, 'i').exec(md5)?.slice(1).find((x) => x !== undefined);
  const realm = param('realm') ?? '';
  const nonce = param('nonce') ?? '';
  const opaque = param('opaque');
  const qop = param('qop');
  const h = (s: string): string => createHash('md5').update(s).digest('hex');
  const ha1 = h(`${user}:${realm}:${password}`);
  const ha2 = h(`${method}:${uri}`);
  const parts = [`username="${user}"`, `realm="${realm}"`, `nonce="${nonce}"`, `uri="${uri}"`, 'algorithm=MD5'];
  if (qop && qop.split(',').map((q) => q.trim()).includes('auth')) {
    const cnonce = randomBytes(8).toString('hex');
    const nc = '00000001';
    parts.push(`response="${h(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`)}"`, 'qop=auth', `nc=${nc}`, `cnonce="${cnonce}"`);
  } else {
    parts.push(`response="${h(`${ha1}:${nonce}:${ha2}`)}"`);
  }
  if (opaque !== undefined) parts.push(`opaque="${opaque}"`);
  return `Digest ${parts.join(', ')}`;
}

function headerLines(text: string, name: string): string[] {
  const head = text.split('\r\n\r\n')[0]!;
  return head
    .split('\r\n')
    .slice(1)
    .filter((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name)
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
}

interface SipConnection {
  localPort: number;
  send(text: string): void;
  /** the next final (non-1xx) response */
  nextFinal(timeoutMs: number): Promise<string>;
  close(): void;
}

async function openSipConnection(t: SippTransport, port: number): Promise<SipConnection> {
  const received: string[] = [];
  let wake: (() => void) | null = null;
  const push = (m: string): void => {
    received.push(m);
    wake?.();
  };
  const nextFinal = async (timeoutMs: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = received.shift();
      if (m !== undefined) {
        if (statusOf(m) >= 200) return m;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no final response from 127.0.0.1:${port} (${t}) within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      wake = null;
    }
  };
  if (t === 'udp') {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (m) => push(m.toString('latin1')));
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return {
      localPort: sock.address().port,
      send: (text) => sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1'),
      nextFinal,
      close: () => sock.close(),
    };
  }
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`TCP connect to 127.0.0.1:${port} timed out`)), 3000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  let data = '';
  socket.on('data', (c: Buffer) => {
    data += c.toString('latin1');
    const { messages, rest } = splitStream(data);
    data = rest;
    for (const m of messages) push(m);
  });
  socket.on('error', () => undefined);
  return {
    localPort: socket.localPort!,
    send: (text) => socket.write(Buffer.from(text, 'latin1')),
    nextFinal,
    close: () => socket.destroy(),
  };
}
