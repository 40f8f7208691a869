/**
 * The `switchboard` command line (commander). `serve` runs the server; flags
 * override the embedded defaults in config.ts. main.ts runs it; this module
 * has no side effect, so tests can build and parse it.
 */
import { Command, Option, InvalidArgumentError } from 'commander';
import { DEFAULTS, defaultDomains, parseListen, type Config, type Listen } from '../config.js';
import { LOG_LEVELS, type LogLevel } from '../util/logger.js';
import { Server } from '../server.js';
import { registerUserCommands } from './user-commands.js';
import { registerRegistrationsCommand } from './registrations-command.js';

function collect(fallbackPort: number) {
  return (value: string, previous: Listen[] | undefined): Listen[] => {
    try {
      return [...(previous ?? []), parseListen(value, fallbackPort)];
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function single(fallbackPort: number) {
  return (value: string): Listen => {
    try {
      return parseListen(value, fallbackPort);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `ip` or `ip:port` / `[v6]:port`: what node:dns setServers takes. */
function dnsServer(value: string, previous: string[] | undefined): string[] {
  const v = value.trim();
  const ok = /^(\d{1,3}\.){3}\d{1,3}(:\d{1,5})?$/.test(v) || /^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(v) || /^[0-9a-fA-F:]+$/.test(v);
  if (!ok || (!v.includes('.') && !v.includes(':'))) throw new InvalidArgumentError('must be an IP address with an optional port (ip[:port], [v6]:port)');
  return [...(previous ?? []), v];
}

function digestAlgorithms(value: string): Array<'SHA-256' | 'MD5'> {
  const out: Array<'SHA-256' | 'MD5'> = [];
  for (const part of value.split(',')) {
    const a = part.trim().toUpperCase();
    if (a !== 'SHA-256' && a !== 'MD5') throw new InvalidArgumentError(`unknown digest algorithm: ${part}`);
    if (!out.includes(a)) out.push(a);
  }
  if (out.length === 0) throw new InvalidArgumentError('at least one algorithm');
  return out;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

interface ServeOptions {
  udp?: Listen[];
  tcp?: Listen[];
  tls?: Listen[];
  ws?: Listen[];
  wss?: Listen[];
  tlsCert?: string;
  tlsKey?: string;
  advertise?: string;
  admin?: Listen;
  db: string;
  domain?: string[];
  logLevel: LogLevel;
  t1: number;
  t2: number;
  t4: number;
  maxMessageSize: number;
  maxConnections: number;
  idleTimeout: number;
  udpRecvBuffer: number;
  udpIoThread: 'on' | 'off';
  commitWindow: number;
  maxTransactions: number;
  auth: 'on' | 'off';
  defaultExpires: number;
  minExpires: number;
  maxExpires: number;
  maxContacts: number;
  nonceTtl: number;
  digestAlgorithms: Array<'SHA-256' | 'MD5'>;
  openRelay?: boolean;
  timerC: number;
  dnsServer?: string[];
}

export function buildConfig(o: ServeOptions): Config {
  const anyListen = !!(o.udp || o.tcp || o.tls || o.ws || o.wss);
  const config: Config = {
    ...DEFAULTS,
    udp: anyListen ? (o.udp ?? []) : DEFAULTS.udp,
    tcp: anyListen ? (o.tcp ?? []) : DEFAULTS.tcp,
    tls: anyListen ? (o.tls ?? []) : DEFAULTS.tls,
    ws: anyListen ? (o.ws ?? []) : DEFAULTS.ws,
    wss: anyListen ? (o.wss ?? []) : DEFAULTS.wss,
    db: o.db,
    domains: o.domain && o.domain.length ? o.domain.map((d) => d.toLowerCase()) : defaultDomains(),
    logLevel: o.logLevel,
    t1: o.t1,
    t2: o.t2,
    t4: o.t4,
    maxMessageSize: o.maxMessageSize,
    maxConnections: o.maxConnections,
    idleTimeoutMs: o.idleTimeout * 1000,
    udpRecvBufferSize: o.udpRecvBuffer,
    udpIoThread: o.udpIoThread !== 'off',
    commitWindowMs: o.commitWindow,
    maxTransactions: o.maxTransactions,
    auth: o.auth !== 'off',
    defaultExpires: o.defaultExpires,
    minExpires: o.minExpires,
    maxExpires: o.maxExpires,
    maxContacts: o.maxContacts,
    nonceTtl: o.nonceTtl,
    digestAlgorithms: o.digestAlgorithms,
    openRelay: o.openRelay === true,
    timerC: o.timerC,
    dnsServers: o.dnsServer ?? [],
  };
  if (config.minExpires > config.maxExpires) throw new InvalidArgumentError('--min-expires is above --max-expires');
  if (o.tlsCert) config.tlsCert = o.tlsCert;
  if (o.tlsKey) config.tlsKey = o.tlsKey;
  if (o.admin) config.admin = o.admin;
  if (o.advertise) {
    const a = parseListen(o.advertise, 0);
    config.advertise = a.port ? { host: a.host, port: a.port } : { host: a.host };
  }
  return config;
}

export function buildProgram(): Command {
  const program = new Command();
  program.name('switchboard').description('SIP proxy and registrar').showHelpAfterError();

  program
    .command('serve')
    .description('run the SIP server (listeners given by flags replace the default set)')
    .option('--udp <host:port>', 'UDP listener, repeatable (default 0.0.0.0:5060)', collect(5060))
    .option('--tcp <host:port>', 'TCP listener, repeatable (default 0.0.0.0:5060)', collect(5060))
    .option('--tls <host:port>', 'TLS listener, repeatable (needs --tls-cert and --tls-key)', collect(5061))
    .option('--ws <host:port>', 'WebSocket listener (RFC 7118), repeatable (default 0.0.0.0:8080)', collect(8080))
    .option('--wss <host:port>', 'secure WebSocket listener, repeatable (needs --tls-cert and --tls-key)', collect(8443))
    .option('--tls-cert <file>', 'PEM certificate for TLS and WSS')
    .option('--tls-key <file>', 'PEM private key for TLS and WSS')
    .option('--advertise <host[:port]>', 'address written in Via and Record-Route (behind NAT or in a container)')
    .option('--admin <host:port>', 'HTTP admin endpoint serving /metrics (Prometheus) and /healthz; off unless given', single(9090))
    .option('--db <path>', 'SQLite database file, created on first start', DEFAULTS.db)
    .option('--domain <name>', 'a SIP domain this server is responsible for, repeatable (default: the host name)', repeat)
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default(DEFAULTS.logLevel))
    .option('--t1 <ms>', 'RFC 3261 timer T1 (round-trip estimate)', positiveInt, DEFAULTS.t1)
    .option('--t2 <ms>', 'RFC 3261 timer T2 (maximum retransmit interval)', positiveInt, DEFAULTS.t2)
    .option('--t4 <ms>', 'RFC 3261 timer T4 (maximum message lifetime)', positiveInt, DEFAULTS.t4)
    .option('--max-message-size <bytes>', 'largest SIP message accepted', positiveInt, DEFAULTS.maxMessageSize)
    .option('--max-connections <n>', 'most open connections per TCP/TLS/WS listener', positiveInt, DEFAULTS.maxConnections)
    .option('--idle-timeout <seconds>', 'close TCP/TLS connections idle this long', positiveInt, DEFAULTS.idleTimeoutMs / 1000)
    .option('--udp-recv-buffer <bytes>', 'UDP socket receive buffer size', positiveInt, DEFAULTS.udpRecvBufferSize)
    .addOption(new Option('--udp-io-thread <on|off>', 'UDP sockets in an I/O thread of their own: the system calls leave the SIP event loop (off: one thread does all)').choices(['on', 'off']).default(DEFAULTS.udpIoThread ? 'on' : 'off'))
    .option('--max-transactions <n>', 'most live SIP transactions; beyond it new requests get 503 (a completed non-INVITE UDP transaction other than a REGISTER refresh lives 32 s, so this caps the sustained rate of those at about n/32 per second)', positiveInt, DEFAULTS.maxTransactions)
    .option('--commit-window <ms>', 'group commit of registrations: at most one database commit per this many ms; 200 OKs wait for their commit (0: commit every event-loop turn)', nonNegativeInt, DEFAULTS.commitWindowMs)
    .addOption(new Option('--auth <on|off>', 'digest authentication of REGISTER and of calls from our users (off: open registrar and proxy for test labs)').choices(['on', 'off']).default('on'))
    .option('--default-expires <seconds>', 'binding lifetime when a REGISTER names none', positiveInt, DEFAULTS.defaultExpires)
    .option('--min-expires <seconds>', 'shortest binding accepted (shorter gets 423 Interval Too Brief)', positiveInt, DEFAULTS.minExpires)
    .option('--max-expires <seconds>', 'longest binding granted (longer requests are shortened)', positiveInt, DEFAULTS.maxExpires)
    .option('--max-contacts <n>', 'most bindings per address-of-record', positiveInt, DEFAULTS.maxContacts)
    .option(
      '--digest-algorithms <list>',
      'digest algorithms offered in 401/407 challenges, preferred first: sha-256,md5 (md5 alone for phones that read only the first challenge)',
      digestAlgorithms,
      DEFAULTS.digestAlgorithms,
    )
    .option('--nonce-ttl <seconds>', 'lifetime of a digest nonce (older ones get stale=true)', positiveInt, DEFAULTS.nonceTtl)
    .option('--open-relay', 'proxy requests to other domains for anyone (default: only for our authenticated users and dialogs we record-route)')
    .option('--timer-c <seconds>', 'proxy Timer C (RFC 3261 §16.8): an INVITE branch without a final response this long is cancelled', positiveInt, DEFAULTS.timerC)
    .option('--dns-server <ip[:port]>', 'DNS server for the proxy\'s RFC 3263 (SRV, A/AAAA) lookups, repeatable (default: the system\'s)', dnsServer)
    .action(async (o: ServeOptions) => {
      const server = new Server(buildConfig(o));
      try {
        await server.start();
      } catch (err) {
        server.logger.fatal({ err }, 'could not start');
        server.logger.flush?.();
        process.exitCode = 1;
        await server.stop().catch(() => undefined);
        return;
      }
      const stop = (signal: string): void => {
        server.logger.info({ signal }, 'shutting down');
        server.stop().finally(() => {
          server.logger.flush?.();
          process.exit(0);
        });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });

  registerUserCommands(program);
  registerRegistrationsCommand(program);
  return program;
}
