import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/util/metrics.js';

describe('HotCount: per-message counters handed to prom-client when collected', () => {
  it('counts without labels and with label children, and every one shows in the exposition', async () => {
    const m = new Metrics();
    const registered = m.hot(m.registrations);
    const udpRequests = m.hot(m.messagesReceived, 'UDP', 'request');
    const ok = m.hot(m.responsesSent, '200');
    registered.inc(2);
    registered.inc();
    udpRequests.inc();
    ok.inc();
    ok.inc();
    const text = await m.registry.metrics();
    expect(text).toMatch(/^switchboard_registrations_total 3$/m);
    expect(text).toMatch(/^switchboard_messages_received_total\{transport="UDP",kind="request"\} 1$/m);
    expect(text).toMatch(/^switchboard_responses_sent_total\{status="200"\} 2$/m);
  });

  it('hands each increment over once: later collections add only what came since', async () => {
    const m = new Metrics();
    const sent = m.hot(m.messagesSent, 'TCP');
    sent.inc();
    expect((await m.messagesSent.get()).values).toEqual([expect.objectContaining({ labels: { transport: 'TCP' }, value: 1 })]);
    expect((await m.messagesSent.get()).values[0]!.value).toBe(1);
    sent.inc(4);
    expect(await m.registry.metrics()).toMatch(/^switchboard_messages_sent_total\{transport="TCP"\} 5$/m);
  });
});
