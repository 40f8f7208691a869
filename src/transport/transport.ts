/**
 * The one interface every transport (UDP, TCP, TLS, WS, WSS) implements,
 * and the Flow: the path a message came in on and a reply can go out on.
 *
 * A transport owns sockets, connections and keepalives only. It hands every
 * complete message to its sink with the flow it arrived on; the core never
 * sees a socket (DESIGN.md: transport → core).
 */

export type TransportProtocol = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

export const RELIABLE: Record<TransportProtocol, boolean> = {
  UDP: false,
  TCP: true,
  TLS: true,
  WS: true,
  WSS: true,
};

/** The secure transports: a sips: target must be reached over one of these. */
export const SECURE: Record<TransportProtocol, boolean> = {
  UDP: false,
  TCP: false,
  TLS: true,
  WS: false,
  WSS: true,
};

export interface Flow {
  /**
   * Stable id: for a connection, unique for its lifetime (RFC 5626 flow);
   * for UDP, the (local, remote) address pair.
   */
  readonly id: string;
  readonly protocol: TransportProtocol;
  readonly reliable: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** true once a connection-oriented flow has closed (never for UDP) */
  readonly closed: boolean;
  /** Queues bytes for sending; false when the flow is closed or over its buffer limit. */
  send(data: Buffer): boolean;
  /**
   * Closes the connection (after input that cannot be framed or answered).
   * TCP and TLS connections have it; UDP flows do not.
   */
  close?(): void;
  /**
   * For a connectionless flow: the flow from the same local socket to another
   * address (RFC 3261 §18.2.2 sends a UDP response to the Via's port).
   */
  to?(address: string, port: number): Flow;
}

export interface Target {
  protocol: TransportProtocol;
  address: string; // IP literal
  port: number;
}

/** What a transport delivers to. */
export interface TransportSink {
  onMessage(data: Buffer, flow: Flow): void;
  /** a connection-oriented flow closed; bindings and transactions on it may be dropped */
  onFlowClosed?(flow: Flow): void;
}

export interface Transport {
  readonly protocol: TransportProtocol;
  /** Binds; resolves once listening. */
  listen(): Promise<void>;
  /** The bound local address (port resolved when 0 was asked). */
  address(): { address: string; port: number };
  /**
   * Returns a flow to the target: an open connection to it when there is one
   * (RFC 3261 §18.1.1 connection reuse), otherwise a new one. For UDP the flow
   * is immediate.
   */
  connect(target: Target): Promise<Flow>;
  /** The open flow with this id, if any (RFC 5626: sending on a registered flow). */
  flow(id: string): Flow | undefined;
  close(): Promise<void>;
}

/** host:port text for a target, IPv6 in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
