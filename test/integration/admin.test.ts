/** The admin endpoint: Prometheus /metrics counts what the server did, /healthz reports the listeners and database. */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server-process.js';
import { options, statusOf, udpPeer } from '../support/sip-client.js';

let server: RunningServer;

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

beforeAll(async () => {
  server = await startServer(['--udp', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--domain', 'example.test']);
});

afterAll(async () => {
  await server?.stop();
});

describe('admin endpoint', () => {
  it('serves Prometheus metrics that count received requests and sent responses', async () => {
    const peer = await udpPeer();
    try {
      const port = server.port('UDP');
      for (let i = 0; i < 3; i++) {
        peer.send(options({ uri: `sip:127.0.0.1:${port}`, via: `SIP/2.0/UDP 127.0.0.1:${peer.port}` }), port);
        expect(statusOf(await peer.next())).toBe(200);
      }
    } finally {
      peer.close();
    }
    const m = await get(server.port('ADMIN'), '/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    expect(m.body).toMatch(/^switchboard_messages_received_total\{transport="UDP",kind="request"\} 3$/m);
    expect(m.body).toMatch(/^switchboard_responses_sent_total\{status="200"\} 3$/m);
    expect(m.body).toMatch(/^switchboard_bindings 0$/m);
  });

  it('reports health with the listeners and the database', async () => {
    const h = await get(server.port('ADMIN'), '/healthz');
    expect(h.status).toBe(200);
    const j = JSON.parse(h.body) as { ok: boolean; database: boolean; listeners: Array<{ protocol: string; port: number }> };
    expect(j.ok).toBe(true);
    expect(j.database).toBe(true);
    expect(j.listeners).toEqual([expect.objectContaining({ protocol: 'UDP', port: server.port('UDP') })]);
  });

  it('answers 404 elsewhere', async () => {
    expect((await get(server.port('ADMIN'), '/nope')).status).toBe(404);
  });
});
