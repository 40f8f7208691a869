/**
 * The admin HTTP endpoint: `/metrics` in the Prometheus text format and
 * `/healthz` (200 while every listener is up and the database answers).
 * Read-only; bind it to loopback or a management network.
 */
import http from 'node:http';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../util/metrics.js';

export interface HealthReport {
  ok: boolean;
  [detail: string]: unknown;
}

export interface AdminOptions {
  host: string;
  port: number;
  metrics: Metrics;
  logger: Logger;
  health(): HealthReport;
}

export class AdminServer {
  private server: http.Server | null = null;
  private bound = { address: '', port: 0 };

  constructor(private readonly opts: AdminOptions) {}

  listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.logger.error({ err }, 'admin request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.logger.error({ err }, 'admin listener error'));
        const a = server.address() as { address: string; port: number };
        this.bound = { address: a.address, port: a.port };
        resolve();
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      const body = await this.opts.metrics.text();
      res.writeHead(200, { 'content-type': this.opts.metrics.registry.contentType }).end(body);
      return;
    }
    if (path === '/healthz') {
      const report = this.opts.health();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report) + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  }

  address(): { address: string; port: number } {
    return this.bound;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    s.closeAllConnections?.();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
