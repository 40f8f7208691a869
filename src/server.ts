/**
 * The composition root: builds every layer from a Config and wires them
 * (DESIGN.md). The one place that knows every concrete class.
 */
import fs from 'node:fs';
import { SystemClock, type Clock } from './util/clock.js';
import { createLogger, type Logger } from './util/logger.js';
import { Metrics } from './util/metrics.js';
import type { Config } from './config.js';
import { SipCore } from './core/sip-core.js';
import { LocalIdentity } from './core/local-identity.js';
import { OptionsHandler, NotImplementedHandler, type Capabilities } from './core/options-handler.js';
import { UdpTransport } from './transport/udp.js';
import { StreamTransport } from './transport/stream.js';
import { WsTransport } from './transport/ws.js';
import type { Transport } from './transport/transport.js';
import { TransactionLayer } from './transaction/transaction-layer.js';
import { AdminServer, type HealthReport } from './admin/admin-server.js';
import { openDatabase, schemaVersion, type Database } from './store/database.js';
import { UserStore } from './store/user-store.js';
import { getOrCreateSecret } from './store/settings.js';
import { DigestAuthenticator } from './auth/digest-auth.js';
import { SqliteLocationStore } from './registrar/location-service.js';
import { InlineBindingWriter, ThreadBindingWriter } from './registrar/binding-writer.js';
import { Registrar } from './registrar/registrar.js';
import { Proxy } from './proxy/proxy.js';
import { DnsResolver } from './proxy/resolver.js';
import { createResponse } from './sip/response.js';

export interface ServerDeps {
  clock?: Clock;
  logger?: Logger;
}

export interface BoundAddress {
  protocol: string;
  address: string;
  port: number;
}

/** OPTIONS (RFC 3261 §11): the methods we route, the extensions the registrar supports. */
function capabilities(): Capabilities {
  return {
    allow: ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'INFO', 'UPDATE', 'PRACK'],
    supported: ['path', 'outbound'],
    accept: ['application/sdp'],
  };
}

/** Method label values of the proxied-requests counter (anything else counts as "other": bounded labels). */
const PROXIED_METHODS = new Set(capabilities().allow);

export class Server {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics = new Metrics({ defaultMetrics: true });
  readonly core: SipCore;
  readonly identity: LocalIdentity;
  readonly transports: Transport[] = [];
  readonly transactions: TransactionLayer;
  /** opened in start(): users, bindings and the nonce secret live here */
  db: Database | null = null;
  admin: AdminServer | null = null;
  locations: SqliteLocationStore | null = null;
  registrar: Registrar | null = null;
  /** the stateful proxy (issue 6), the core's fallback handler once started */
  proxy: Proxy | null = null;

  constructor(
    readonly config: Config,
    deps: ServerDeps = {},
  ) {
    this.clock = deps.clock ?? new SystemClock();
    this.logger = deps.logger ?? createLogger(config.logLevel);
    this.identity = new LocalIdentity(config.domains);
    this.core = new SipCore({
      logger: this.logger,
      metrics: this.metrics,
      clock: this.clock,
      limits: { maxMessageSize: config.maxMessageSize },
    });
    this.transactions = this.buildTransactionLayer();
    const notImplemented = new NotImplementedHandler();
    this.core.route('OPTIONS', new OptionsHandler(this.identity, capabilities, notImplemented));
    this.core.fallback(notImplemented);
    this.buildTransports();
  }

  /** RFC 3261 §17: every valid message passes through the transaction layer on its way to a handler. */
  private buildTransactionLayer(): TransactionLayer {
    const core = this.core;
    const c = this.config;
    const log = this.logger.child({ component: 'transaction' });
    const layer = new TransactionLayer({
      clock: this.clock,
      t1: c.t1,
      t2: c.t2,
      t4: c.t4,
      maxTransactions: c.maxTransactions,
      sendResponse: (res, bytes, flow) => core.sendResponse(res, flow, bytes),
      sendRequest: (_req, bytes, dest, tx) => core.sendRequestBytes(bytes, dest, () => tx.reportTransportError()),
      user: {
        onRequest: (req, tx) => core.dispatchRequest(req, tx),
        // §16.10, §16.11, RFC 6026 §7.3: the proxy's once it is built (start())
        onCancel: (cancel, tx, inviteTx) => {
          if (this.proxy) this.proxy.onCancel(cancel, tx, inviteTx);
          else tx.respond(createResponse(cancel, inviteTx ? 200 : 481));
        },
        onAck: (ack, flow, inviteTx) => {
          if (this.proxy) this.proxy.onAck(ack, flow, inviteTx);
          else log.debug({ callId: ack.callId() }, 'ACK without a transaction ignored');
        },
        onStrayResponse: (res, flow) => {
          if (this.proxy) this.proxy.onStrayResponse(res, flow);
          else log.debug({ status: res.status, flow: flow.id }, 'stray response dropped');
        },
      },
      // a proxy sees a spiral come back with a new branch: §8.2.2.2 merging is a UAS rule
      detectMergedRequests: false,
      // completed UDP non-INVITE transactions (every REGISTER) wait out Timer J as bytes, not objects
      compactCompleted: true,
      // the registrar answers most REGISTERs statelessly (§8.2.7): their transactions are created only when needed
      deferredMethods: ['REGISTER'],
      logger: log,
    });
    core.useDispatcher(layer);
    this.metrics.transactionCount = () => layer.size;
    return layer;
  }

  private buildTransports(): void {
    const c = this.config;
    const m = this.metrics;
    const sink = this.core;
    const common = { sink, logger: this.logger, clock: this.clock };
    const needTls = c.tls.length > 0 || c.wss.length > 0;
    let creds: { cert: Buffer; key: Buffer } | undefined;
    if (needTls) {
      if (!c.tlsCert || !c.tlsKey) throw new Error('--tls and --wss need --tls-cert and --tls-key');
      creds = { cert: fs.readFileSync(c.tlsCert), key: fs.readFileSync(c.tlsKey) };
    }
    for (const l of c.udp) {
      this.transports.push(
        new UdpTransport({
          ...l,
          sink,
          logger: this.logger,
          recvBufferSize: c.udpRecvBufferSize,
          ioThread: c.udpIoThread,
          clock: this.clock,
          onKeepalive: () => m.keepalives.labels('UDP').inc(),
          onSendError: () => m.sendErrors.labels('UDP').inc(),
          onQueueDrop: (n) => m.udpQueueDrops.inc(n),
        }),
      );
    }
    const streamLimits = { maxMessageSize: c.maxMessageSize, maxConnections: c.maxConnections, idleTimeoutMs: c.idleTimeoutMs };
    for (const [protocol, list] of [['TCP', c.tcp], ['TLS', c.tls]] as const) {
      for (const l of list) {
        this.transports.push(
          new StreamTransport({
            protocol,
            ...l,
            ...common,
            limits: streamLimits,
            ...(protocol === 'TLS' && creds ? { tls: creds } : {}),
            onKeepalive: () => m.keepalives.labels(protocol).inc(),
            onConnectionsChanged: (n) => m.connections.labels(protocol).set(n),
            onRefused: (reason) => m.connectionsRefused.labels(protocol, reason).inc(),
          }),
        );
      }
    }
    for (const [protocol, list] of [['WS', c.ws], ['WSS', c.wss]] as const) {
      for (const l of list) {
        this.transports.push(
          new WsTransport({
            protocol,
            ...l,
            ...common,
            maxConnections: c.maxConnections,
            maxMessageSize: c.maxMessageSize,
            ...(protocol === 'WSS' && creds ? { tls: creds } : {}),
            onKeepalive: () => m.keepalives.labels(protocol).inc(),
            onConnectionsChanged: (n) => m.connections.labels(protocol).set(n),
            onRefused: (reason) => m.connectionsRefused.labels(protocol, reason).inc(),
          }),
        );
      }
    }
  }

  async start(): Promise<BoundAddress[]> {
    this.db = openDatabase(this.config.db, { clock: this.clock });
    this.logger.info({ db: this.config.db, schemaVersion: schemaVersion(this.db) }, 'database open');
    this.buildRegistrar(this.db);
    const bound: BoundAddress[] = [];
    for (const t of this.transports) {
      await t.listen();
      const a = t.address();
      this.core.addTransport(t);
      this.identity.addAddress(a.address, a.port);
      if (this.config.advertise) this.identity.addAddress(this.config.advertise.host, this.config.advertise.port ?? a.port);
      bound.push({ protocol: t.protocol, address: a.address, port: a.port });
    }
    if (this.config.admin) {
      const admin = new AdminServer({ ...this.config.admin, metrics: this.metrics, logger: this.logger, health: () => this.health() });
      await admin.listen();
      this.admin = admin;
      const a = admin.address();
      bound.push({ protocol: 'ADMIN', address: a.address, port: a.port });
    }
    this.logger.info({ listen: bound.map((b) => `${b.protocol.toLowerCase()}:${b.address.includes(':') ? `[${b.address}]` : b.address}:${b.port}`), domains: this.config.domains }, 'switchboard started');
    return bound;
  }

  /** The registrar and its location service (issue 5): needs the database, so built in start(). */
  private buildRegistrar(db: Database): void {
    const c = this.config;
    const m = this.metrics;
    const locations = new SqliteLocationStore({
      db,
      clock: this.clock,
      logger: this.logger.child({ component: 'location' }),
      onExpired: (removed) => m.unregistrations.labels('expired').inc(removed.length),
      onCommit: () => m.storeCommits.inc(),
      commitWindowMs: c.commitWindowMs,
      // SQLite work off the event loop that answers SIP (an in-memory database cannot be shared)
      writer: (d) =>
        d.memory || !ThreadBindingWriter.available()
          ? new InlineBindingWriter(d)
          : new ThreadBindingWriter(d.name, d, this.logger.child({ component: 'location' })),
    });
    const users = new UserStore(db, this.clock);
    if (c.auth) this.logger.info({ users: users.preload() }, 'user cache loaded');
    const auth = c.auth
      ? new DigestAuthenticator({
          clock: this.clock,
          secret: getOrCreateSecret(db, 'nonce_secret'),
          nonceTtlMs: c.nonceTtl * 1000,
          algorithms: c.digestAlgorithms,
          lookup: (username, realm) => users.lookup(username, realm),
        })
      : null;
    const proxy = this.buildProxy(locations, users, auth);
    const registered = m.hot(m.registrations);
    const registrar = new Registrar({
      store: locations,
      identity: this.identity,
      auth,
      clock: this.clock,
      logger: this.logger.child({ component: 'registrar' }),
      metrics: {
        registered: (n) => registered.inc(n),
        unregistered: (n, cause) => m.unregistrations.labels(cause).inc(n),
        failed: (code) => m.registerFailures.labels(code).inc(),
        answeredAgain: () => m.registerRetransmissions.inc(),
      },
      defaultExpires: c.defaultExpires,
      minExpires: c.minExpires,
      maxExpires: c.maxExpires,
      maxContacts: c.maxContacts,
      // Timer F: how long a client may retransmit a REGISTER
      retransmissionWindowMs: 64 * c.t1,
      // §10.3 step 1: a REGISTER for another domain is proxied
      onForeignDomain: (req, tx) => proxy.onRequest(req, tx),
    });
    m.bindingCount = () => locations.count();
    this.core.route('REGISTER', registrar);
    // A connection's close event can come after stop() stopped this store and
    // closed the database: it must not reach them then (its bindings stay on
    // disk, and the next start drops them, see SqliteLocationStore.load).
    this.core.addFlowClosedListener((flow) => {
      if (this.locations === locations) registrar.onFlowClosed(flow);
    });
    this.core.addFlowClosedListener((flow) => {
      if (this.proxy === proxy) proxy.onFlowClosed(flow);
    });
    locations.start();
    this.locations = locations;
    this.registrar = registrar;
  }

  /**
   * The stateful proxy (issue 6): the fallback of the core, and the next
   * handler of OPTIONS (an OPTIONS to a user is proxied). It shares the
   * registrar's authenticator and reads its location service.
   */
  private buildProxy(locations: SqliteLocationStore, users: UserStore, auth: DigestAuthenticator | null): Proxy {
    const c = this.config;
    const m = this.metrics;
    const relayed = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'].map((k) => m.proxyResponses.labels(k));
    const proxy = new Proxy({
      core: this.core,
      transactions: this.transactions,
      identity: this.identity,
      locations,
      auth,
      ...(auth ? { userExists: (username: string, domain: string) => users.lookup(username, domain) !== undefined } : {}),
      resolver: new DnsResolver({ clock: this.clock, servers: c.dnsServers ?? [] }),
      clock: this.clock,
      logger: this.logger.child({ component: 'proxy' }),
      metrics: {
        proxied: (method) => m.proxiedRequests.labels(PROXIED_METHODS.has(method) ? method : 'other').inc(),
        relayed: (status) => relayed[Math.min(5, Math.max(0, Math.floor(status / 100) - 1))]!.inc(),
        branchEnded: (outcome) => m.proxyBranches.labels(outcome).inc(),
      },
      openRelay: c.openRelay ?? false,
      timerCMs: (c.timerC ?? 180) * 1000,
      t1: c.t1,
      ...(c.advertise ? { advertise: c.advertise } : {}),
    });
    m.proxyCallCount = () => proxy.liveCalls;
    this.core.route('OPTIONS', new OptionsHandler(this.identity, capabilities, proxy));
    this.core.fallback(proxy);
    this.proxy = proxy;
    return proxy;
  }

  /** /healthz: every listener bound and the database answering. */
  health(): HealthReport {
    const listeners = this.transports.map((t) => ({ protocol: t.protocol, ...t.address() }));
    let database = false;
    try {
      database = this.db !== null && this.db.prepare('SELECT 1 AS one').get() !== undefined;
    } catch {
      database = false;
    }
    const ok = database && listeners.every((l) => l.port > 0);
    return { ok, database, listeners, transactions: this.transactions.size, bindings: this.locations?.count() ?? 0 };
  }

  async stop(): Promise<void> {
    await this.admin?.close();
    this.admin = null;
    this.proxy = null;
    await Promise.all(this.transports.map((t) => t.close()));
    const locations = this.locations;
    this.locations = null;
    await locations?.close();
    this.db?.close();
    this.db = null;
    this.logger.info('switchboard stopped');
  }
}
