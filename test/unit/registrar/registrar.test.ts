import { describe, expect, it, vi } from 'vitest';
import { ERROR_CODES } from '../../../src/util/errors.js';
import { openDatabase } from '../../../src/store/database.js';
import { ManualClock } from '../../../src/util/clock.js';
import { Registrar } from '../../../src/registrar/registrar.js';
import { SqliteLocationStore } from '../../../src/registrar/location-service.js';
import { LocalIdentity } from '../../../src/core/local-identity.js';
import { silentLogger } from '../../../src/util/logger.js';
import { contactsOf, fakeFlow, harness, registerText, turn, wire } from './support.js';

const AOR = 'sip:alice@example.com';
const INSTANCE = '+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"';
const UUID = 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
const EDGE_VIA = 'SIP/2.0/TCP edge.example.com;branch=z9hG4bK-edge';
const CLIENT_VIA = 'SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK-ua;received=192.0.2.10';

describe('Registrar: a plain registration (RFC 3261 §10.3)', () => {
  it('stores the binding and answers 200 with it, its remaining time and a Date', async () => {
    const h = harness();
    const res = await h.send(`
      REGISTER sip:example.com SIP/2.0
      Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1
      Max-Forwards: 70
      From: "Alice" <sip:alice@example.com>;tag=f1
      To: "Alice" <sip:alice@example.com>
      Call-ID: reg-1@192.0.2.10
      CSeq: 1 REGISTER
      Contact: <sip:alice@192.0.2.10:5060>
      Expires: 3600
      User-Agent: softphone/1.0
      Content-Length: 0
    `);
    expect(res.status).toBe(200);
    expect(res.getAll('contact')).toEqual(['<sip:alice@192.0.2.10:5060>;expires=3600']);
    expect(res.get('date')).toBe(new Date(h.clock.now()).toUTCString());
    expect(res.get('date')).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(res.toTag()).toBeDefined();
    expect(res.tokens('supported')).toContain('path');

    const [b] = h.store.lookup(AOR, h.clock.now());
    expect(b).toMatchObject({
      aor: AOR,
      contact: 'sip:alice@192.0.2.10:5060',
      expiresAt: h.clock.now() + 3_600_000,
      callId: 'reg-1@192.0.2.10',
      cseq: 1,
      userAgent: 'softphone/1.0',
      received: '192.0.2.10:5060',
      transport: 'UDP',
      flowId: null,
    });
    expect(h.rows()).toHaveLength(1);
    expect(h.metrics.registrations).toBe(1);
    expect(h.logs.some((l) => l.msg === 'registration updated' && l.aor === AOR && l.level === 30)).toBe(true);
  });

  it('canonicalises the AOR from To: sips, escapes and domain case map to one AOR', async () => {
    const h = harness();
    expect((await h.send(registerText({ to: 'sips:al%69ce@EXAMPLE.COM', contacts: ['<sips:alice@192.0.2.10>'] }))).status).toBe(200);
    expect(h.store.lookup(AOR, h.clock.now())).toHaveLength(1);
  });

  it('a REGISTER without Contact is a query: 200 with the current bindings, nothing changed', async () => {
    const h = harness();
    await h.send(registerText({ contacts: ['<sip:alice@192.0.2.10>;q=0.5;' + INSTANCE] }));
    h.clock.advance(1_000_000);
    const res = await h.send(registerText({ contacts: [], cseq: 2 }));
    expect(res.status).toBe(200);
    expect(res.getAll('contact')).toEqual([`<sip:alice@192.0.2.10>;q=0.5;${INSTANCE};expires=2600`]);
    expect(h.store.count()).toBe(1);
    expect(h.store.lookup(AOR, h.clock.now())[0]!.cseq).toBe(1);
  });

  it('answers only after the store commit: many REGISTERs in one tick share ONE transaction', async () => {
    const h = harness();
    const flush = vi.spyOn(h.store, 'flush');
    const txs = Array.from({ length: 20 }, (_, i) =>
      h.deliver(registerText({ to: `sip:user${i}@example.com`, contacts: [`<sip:user${i}@192.0.2.10>`] })),
    );
    // nothing is answered, nothing is on disk yet, though memory already has the bindings
    expect(txs.every((t) => t.responses.length === 0)).toBe(true);
    expect(h.rows()).toHaveLength(0);
    expect(h.store.count()).toBe(20);
    await turn();
    expect(flush).toHaveBeenCalledTimes(1);
    expect(h.store.commits).toBe(1);
    expect(txs.map((t) => t.responses.map((r) => r.status))).toEqual(txs.map(() => [200]));
    expect(h.rows()).toHaveLength(20);
  });

  it('a failed commit is a 500 SB_ERR_REG_STORE_FAILED and the binding is not kept', async () => {
    const h = harness();
    h.db.exec("CREATE TRIGGER no_more BEFORE INSERT ON bindings BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const res = await h.send(registerText());
    expect(res.status).toBe(500);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_STORE_FAILED');
    expect(h.store.lookup(AOR, h.clock.now())).toEqual([]);
  });
});

describe('RFC 3261 §10.3 step 1: the Request-URI domain', () => {
  it('404 SB_ERR_REG_NOT_OUR_DOMAIN for a domain we do not serve', async () => {
    const h = harness();
    const res = await h.send(registerText({ ruri: 'sip:elsewhere.net', to: 'sip:alice@elsewhere.net' }));
    expect(res.status).toBe(ERROR_CODES.SB_ERR_REG_NOT_OUR_DOMAIN.status);
    expect(res.status).toBe(404);
    expect(h.metrics.failures).toEqual(['SB_ERR_REG_NOT_OUR_DOMAIN']);
    expect(h.store.count()).toBe(0);
  });

  it('hands a foreign REGISTER to onForeignDomain instead, when given', async () => {
    const onForeignDomain = vi.fn();
    const h = harness({ registrar: { onForeignDomain } });
    const tx = h.deliver(registerText({ ruri: 'sip:elsewhere.net' }));
    await turn();
    expect(onForeignDomain).toHaveBeenCalledWith(tx.request, tx);
    expect(tx.responses).toEqual([]);
  });
});

describe('RFC 3261 §10.3 step 2: Require', () => {
  it('420 SB_ERR_REG_BAD_EXTENSION with Unsupported listing what we lack (gruu is not supported)', async () => {
    const h = harness();
    const res = await h.send(registerText({ extra: ['Require: path, gruu, foo'] }));
    expect(res.status).toBe(420);
    expect(res.getAll('unsupported')).toEqual(['gruu', 'foo']);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_EXTENSION');
    expect(h.store.count()).toBe(0);
  });

  it('accepts Require: path, outbound', async () => {
    const h = harness();
    expect((await h.send(registerText({ extra: ['Require: path, outbound'] }))).status).toBe(200);
  });
});

describe('RFC 3261 §10.3 step 5: the AOR in To', () => {
  it('404 SB_ERR_REG_UNKNOWN_AOR when To is in a domain we do not serve', async () => {
    const h = harness();
    const res = await h.send(registerText({ to: 'sip:alice@elsewhere.net' }));
    expect(res.status).toBe(404);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_UNKNOWN_AOR');
  });

  it('404 SB_ERR_REG_UNKNOWN_AOR when To is not a sip/sips URI', async () => {
    const h = harness();
    const res = await h.send(registerText({ to: 'tel:+15551234567' }));
    expect(res.status).toBe(404);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_UNKNOWN_AOR');
  });

  it('with auth off, an AOR whose user is unknown is fine', async () => {
    const h = harness();
    expect((await h.send(registerText({ to: 'sip:nobody@example.org' }))).status).toBe(200);
    expect(h.store.lookup('sip:nobody@example.org', h.clock.now())).toHaveLength(1);
  });
});

describe('RFC 3261 §10.3 step 6: Contact and the * wildcard', () => {
  it('Contact: * with Expires: 0 removes every binding of the AOR', async () => {
    const h = harness();
    await h.send(registerText({ contacts: ['<sip:alice@192.0.2.10>', '<sip:alice@192.0.2.11>'] }));
    await h.send(registerText({ to: 'sip:bob@example.com', contacts: ['<sip:bob@192.0.2.20>'] }));
    const res = await h.send(registerText({ contacts: ['*'], expires: 0, cseq: 2 }));
    expect(res.status).toBe(200);
    expect(res.getAll('contact')).toEqual([]);
    expect(h.store.lookup(AOR, h.clock.now())).toEqual([]);
    expect(h.store.count()).toBe(1);
    expect(h.rows()).toHaveLength(1);
    expect(h.metrics.unregistrations.request).toBe(2);
  });

  it('400 SB_ERR_REG_BAD_WILDCARD for * without Expires: 0', async () => {
    const h = harness();
    for (const expires of [undefined, 60]) {
      const res = await h.send(registerText({ contacts: ['*'], expires }));
      expect(res.status).toBe(400);
      expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_WILDCARD');
    }
  });

  it('400 SB_ERR_REG_BAD_WILDCARD for * beside another contact', async () => {
    const h = harness();
    const res = await h.send(registerText({ contacts: ['*', '<sip:alice@192.0.2.10>'], expires: 0 }));
    expect(res.status).toBe(400);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_WILDCARD');
  });

  it('* obeys the CSeq rule: same Call-ID with a CSeq not higher is refused and removes nothing', async () => {
    const h = harness();
    await h.send(registerText({ cseq: 5 }));
    const res = await h.send(registerText({ contacts: ['*'], expires: 0, cseq: 5 }));
    expect(res.status).toBe(400);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_CSEQ_OUT_OF_ORDER');
    expect(h.store.count()).toBe(1);
  });

  it('400 SB_ERR_REG_BAD_CONTACT naming the header for a malformed Contact', async () => {
    const h = harness();
    const res = await h.send(registerText({ contacts: ['<sip:alice@192.0.2.10;q=2'] }));
    expect(res.status).toBe(400);
    expect(res.reason).toMatch(/Contact/);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_CONTACT');
    const res2 = await h.send(registerText({ contacts: ['<sip:alice@192.0.2.10>;q=7'] }));
    expect(res2.status).toBe(400);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_CONTACT');
  });

  it('400 SB_ERR_REG_BAD_EXPIRES naming the header for a malformed Expires', async () => {
    const h = harness();
    const res = await h.send(registerText({ expires: 'soon' }));
    expect(res.status).toBe(400);
    expect(res.reason).toMatch(/Expires/);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_EXPIRES');
    expect(h.store.count()).toBe(0);
  });
});

describe('RFC 3261 §10.3 step 7: expiry of each contact', () => {
  it('takes the expires param over the Expires header over the default', async () => {
    const h = harness();
    const res = await h.send(
      registerText({ contacts: ['<sip:a@192.0.2.10>;expires=120', '<sip:b@192.0.2.10>'], expires: 600 }),
    );
    expect(res.getAll('contact').sort()).toEqual(['<sip:a@192.0.2.10>;expires=120', '<sip:b@192.0.2.10>;expires=600']);
    const res2 = await h.send(registerText({ to: 'sip:bob@example.com', contacts: ['<sip:c@192.0.2.10>'] }));
    expect(res2.getAll('contact')).toEqual(['<sip:c@192.0.2.10>;expires=3600']);
  });

  it('423 SB_ERR_REG_INTERVAL_TOO_BRIEF with Min-Expires when 0 < expires < min, storing nothing', async () => {
    const h = harness();
    const res = await h.send(registerText({ contacts: ['<sip:a@192.0.2.10>', '<sip:b@192.0.2.10>;expires=30'] }));
    expect(res.status).toBe(423);
    expect(res.get('min-expires')).toBe('60');
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_INTERVAL_TOO_BRIEF');
    expect(h.store.count()).toBe(0);
  });

  it('caps an expiry above the maximum', async () => {
    const h = harness();
    const res = await h.send(registerText({ expires: 86_400 }));
    expect(contactsOf(res)[0]!.expires).toBe(7200);
    expect(h.store.lookup(AOR, h.clock.now())[0]!.expiresAt).toBe(h.clock.now() + 7_200_000);
  });

  it('an expires=0 contact removes just that binding', async () => {
    const h = harness();
    await h.send(registerText({ contacts: ['<sip:a@192.0.2.10>', '<sip:b@192.0.2.10>'] }));
    const res = await h.send(registerText({ contacts: ['<sip:a@192.0.2.10>;expires=0'], cseq: 2 }));
    expect(res.getAll('contact')).toEqual(['<sip:b@192.0.2.10>;expires=3600']);
    expect(h.rows().map((r) => r.contact)).toEqual(['sip:b@192.0.2.10']);
  });

  it('matches contacts by RFC 3261 §19.1.4 equality, not by text', async () => {
    const h = harness();
    await h.send(registerText({ contacts: ['<sip:alice@HOST.example.net:5060>'] }));
    await h.send(registerText({ contacts: ['<sip:alice@host.example.net:5060>'], cseq: 2 }));
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => b.contact)).toEqual(['sip:alice@host.example.net:5060']);
    expect(h.rows()).toHaveLength(1);
  });

  it('the binding is gone once it expires on the clock, and the sweep deletes it from SQLite', async () => {
    const h = harness({ store: { sweepIntervalMs: 30_000 } });
    h.store.start();
    await h.send(registerText({ expires: 60 }));
    h.clock.advance(59_999);
    expect(h.store.lookup(AOR, h.clock.now())).toHaveLength(1);
    h.clock.advance(1);
    expect(h.store.lookup(AOR, h.clock.now())).toEqual([]);
    h.clock.advance(30_000);
    await turn();
    expect(h.store.count()).toBe(0);
    expect(h.rows()).toEqual([]);
    h.store.stop();
  });

  it('403 SB_ERR_REG_TOO_MANY_CONTACTS when the AOR would exceed maxContacts, storing nothing', async () => {
    const h = harness({ registrar: { maxContacts: 2 } });
    await h.send(registerText({ contacts: ['<sip:a@192.0.2.10>', '<sip:b@192.0.2.10>'] }));
    const res = await h.send(registerText({ contacts: ['<sip:c@192.0.2.10>'], callId: 'other' }));
    expect(res.status).toBe(403);
    expect(res.reason).toBe('Too Many Contacts');
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_TOO_MANY_CONTACTS');
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => b.contact).sort()).toEqual(['sip:a@192.0.2.10', 'sip:b@192.0.2.10']);
    // replacing one while adding another stays within the limit
    const ok = await h.send(registerText({ contacts: ['<sip:a@192.0.2.10>;expires=0', '<sip:c@192.0.2.10>'], cseq: 2 }));
    expect(ok.status).toBe(200);
  });

  it('503 SB_ERR_REG_LOCATION_FULL when the location service is at maxBindings', async () => {
    const h = harness({ registrar: { maxBindings: 1 } });
    await h.send(registerText());
    const res = await h.send(registerText({ to: 'sip:bob@example.com' }));
    expect(res.status).toBe(503);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_LOCATION_FULL');
  });
});

describe('RFC 3261 §10.3 step 7: Call-ID and CSeq', () => {
  it('400 SB_ERR_REG_CSEQ_OUT_OF_ORDER for the same Call-ID with a CSeq not higher, storing nothing', async () => {
    const h = harness();
    await h.send(registerText({ cseq: 10, expires: 600 }));
    for (const cseq of [10, 9]) {
      const res = await h.send(registerText({ cseq, contacts: ['<sip:alice@192.0.2.10:5060>', '<sip:new@192.0.2.10>'] }));
      expect(res.status).toBe(400);
      expect(res.reason).toBe('CSeq Out Of Order');
      expect(h.metrics.lastFailure).toBe('SB_ERR_REG_CSEQ_OUT_OF_ORDER');
    }
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => [b.contact, b.cseq])).toEqual([['sip:alice@192.0.2.10:5060', 10]]);
  });

  it('a higher CSeq on the same Call-ID refreshes; a different Call-ID replaces whatever its CSeq', async () => {
    const h = harness();
    await h.send(registerText({ cseq: 10, expires: 600 }));
    h.clock.advance(100_000);
    await h.send(registerText({ cseq: 11, expires: 600 }));
    expect(h.store.lookup(AOR, h.clock.now())[0]!.expiresAt).toBe(h.clock.now() + 600_000);
    const res = await h.send(registerText({ cseq: 1, callId: 'rebooted', expires: 900 }));
    expect(res.status).toBe(200);
    const [b] = h.store.lookup(AOR, h.clock.now());
    expect([b!.callId, b!.cseq]).toEqual(['rebooted', 1]);
    expect(h.store.count()).toBe(1);
    expect(h.rows()).toHaveLength(1);
  });
});

describe('RFC 5626 §6: Outbound', () => {
  const obContact = (regId: number, host = '192.0.2.10') => `<sip:alice@${host};transport=tcp;ob>;${INSTANCE};reg-id=${regId}`;

  it('a first-hop Outbound REGISTER makes a flow-bound binding; the 200 requires outbound and gives Flow-Timer', async () => {
    const h = harness();
    const tcp = fakeFlow({ protocol: 'TCP', id: 'tcp-7' });
    const res = await h.send(registerText({ vias: [CLIENT_VIA], contacts: [obContact(1)], extra: ['Supported: path, outbound'] }), tcp);
    expect(res.status).toBe(200);
    expect(res.get('require')).toBe('outbound');
    expect(res.get('flow-timer')).toBe('120');
    expect(res.getAll('contact')).toEqual([`${obContact(1)};expires=3600`]);
    expect(h.store.lookup(AOR, h.clock.now())[0]).toMatchObject({
      key: `ob ${UUID} 1`,
      flowId: 'tcp-7',
      instanceId: UUID,
      regId: 1,
      transport: 'TCP',
    });
  });

  it('a new REGISTER with the same instance and reg-id replaces the binding (and its flow); another reg-id adds one', async () => {
    const h = harness();
    const f1 = fakeFlow({ protocol: 'TCP', id: 'tcp-1' });
    const f2 = fakeFlow({ protocol: 'TCP', id: 'tcp-2' });
    const f3 = fakeFlow({ protocol: 'TCP', id: 'tcp-3' });
    const sup = ['Supported: outbound'];
    await h.send(registerText({ vias: [CLIENT_VIA], contacts: [obContact(1)], extra: sup }), f1);
    await h.send(registerText({ vias: [CLIENT_VIA], contacts: [obContact(1, '192.0.2.99')], extra: sup, callId: 'new-call' }), f2);
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => [b.flowId, b.contact])).toEqual([['tcp-2', 'sip:alice@192.0.2.99;transport=tcp;ob']]);
    // RFC 5626 §4.2: the same contact on a second flow with reg-id 2 is a second binding
    const res = await h.send(registerText({ vias: [CLIENT_VIA], contacts: [obContact(2, '192.0.2.99')], extra: sup, callId: 'flow-2' }), f3);
    expect(res.getAll('contact')).toHaveLength(2);
    expect(h.rows()).toHaveLength(2);
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => b.flowId).sort()).toEqual(['tcp-2', 'tcp-3']);
  });

  it('closing the flow removes its bindings (and only those)', async () => {
    const h = harness();
    const f1 = fakeFlow({ protocol: 'TCP', id: 'tcp-1' });
    await h.send(registerText({ vias: [CLIENT_VIA], contacts: [obContact(1)], extra: ['Supported: outbound'] }), f1);
    await h.send(registerText({ contacts: ['<sip:alice@192.0.2.50>'], callId: 'desk' }));
    h.registrar.onFlowClosed(f1);
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => b.contact)).toEqual(['sip:alice@192.0.2.50']);
    expect(h.metrics.unregistrations['flow-closed']).toBe(1);
    await turn();
    expect(h.rows()).toHaveLength(1);
    h.registrar.onFlowClosed(fakeFlow({ protocol: 'TCP', id: 'tcp-unknown' }));
    expect(h.store.count()).toBe(1);
  });

  it('439 SB_ERR_REG_FIRST_HOP_LACKS_OUTBOUND when the first hop is a proxy without an ;ob Path', async () => {
    const h = harness();
    for (const path of [[], ['Path: <sip:edge.example.com;lr>']]) {
      const res = await h.send(registerText({ vias: [EDGE_VIA, CLIENT_VIA], contacts: [obContact(1)], extra: ['Supported: outbound', ...path] }));
      expect(res.status).toBe(439);
      expect(h.metrics.lastFailure).toBe('SB_ERR_REG_FIRST_HOP_LACKS_OUTBOUND');
    }
    expect(h.store.count()).toBe(0);
  });

  it('through an edge proxy whose Path has ;ob: Outbound applies, the flow stays with the edge proxy', async () => {
    const h = harness();
    const edge = fakeFlow({ protocol: 'TCP', id: 'tcp-edge', remoteAddress: '192.0.2.2' });
    const res = await h.send(
      registerText({
        vias: [EDGE_VIA, CLIENT_VIA],
        contacts: [obContact(1)],
        extra: ['Supported: path, outbound', 'Path: <sip:edge.example.com;lr;ob>'],
      }),
      edge,
    );
    expect(res.status).toBe(200);
    expect(res.get('require')).toBe('outbound');
    expect(res.get('flow-timer')).toBeUndefined();
    expect(h.store.lookup(AOR, h.clock.now())[0]).toMatchObject({ key: `ob ${UUID} 1`, flowId: null, path: ['<sip:edge.example.com;lr;ob>'] });
  });

  it('without Supported: outbound the reg-id is ignored: a per-instance binding, no Require', async () => {
    const h = harness();
    const res = await h.send(registerText({ vias: [EDGE_VIA, CLIENT_VIA], contacts: [obContact(1)] }));
    expect(res.status).toBe(200);
    expect(res.get('require')).toBeUndefined();
    expect(h.store.lookup(AOR, h.clock.now())[0]).toMatchObject({ key: `inst ${UUID}`, regId: null, flowId: null });
  });

  it('a Contact with +sip.instance and no reg-id replaces the binding of the same instance', async () => {
    const h = harness();
    await h.send(registerText({ contacts: [`<sip:alice@192.0.2.10:5060>;${INSTANCE}`] }));
    await h.send(registerText({ contacts: [`<sip:alice@198.51.100.7:5060>;${INSTANCE}`], callId: 'moved' }));
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => b.contact)).toEqual(['sip:alice@198.51.100.7:5060']);
  });

  it('a WebRTC .invalid contact is bound to the flow it came on, and dies with it', async () => {
    const h = harness();
    const ws = fakeFlow({ protocol: 'WSS', id: 'wss-9' });
    const res = await h.send(
      registerText({ vias: ['SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-w'], contacts: ['<sip:k2o1ktke@df7jal23ls0d.invalid;transport=ws>;expires=600'] }),
      ws,
    );
    expect(res.status).toBe(200);
    expect(res.get('require')).toBeUndefined();
    expect(h.store.lookup(AOR, h.clock.now())[0]).toMatchObject({ flowId: 'wss-9', transport: 'WSS' });
    h.registrar.onFlowClosed(ws);
    expect(h.store.count()).toBe(0);
  });
});

describe('RFC 3327: Path', () => {
  it('stores the Path headers in order and echoes them in the 200 with Supported: path', async () => {
    const h = harness();
    const res = await h.send(
      registerText({
        vias: ['SIP/2.0/UDP p1.example.net;branch=z9hG4bK-p1', 'SIP/2.0/UDP p2.example.net;branch=z9hG4bK-p2', 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-ua'],
        extra: ['Supported: path', 'Path: <sip:p1.example.net;lr>', 'Path: <sip:p2.example.net;lr>'],
      }),
    );
    expect(res.status).toBe(200);
    expect(res.getAll('path')).toEqual(['<sip:p1.example.net;lr>', '<sip:p2.example.net;lr>']);
    expect(res.tokens('supported')).toContain('path');
    expect(h.store.lookup(AOR, h.clock.now())[0]!.path).toEqual(['<sip:p1.example.net;lr>', '<sip:p2.example.net;lr>']);
    expect(JSON.parse(h.rows()[0]!.path as string)).toEqual(['<sip:p1.example.net;lr>', '<sip:p2.example.net;lr>']);
  });

  it('400 SB_ERR_REG_BAD_PATH for a malformed Path', async () => {
    const h = harness();
    const res = await h.send(registerText({ extra: ['Path: <sip:p1.example.net;lr'] }));
    expect(res.status).toBe(400);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_BAD_PATH');
  });
});

describe('RFC 3261 §10.3 step 8: the 200 OK', () => {
  it('lists every current binding with its remaining time, echoing q and +sip.instance, q first', async () => {
    const h = harness();
    await h.send(registerText({ contacts: ['<sip:low@192.0.2.10>;q=0.2', `<sip:high@192.0.2.11>;q=0.9;${INSTANCE}`], expires: 600 }));
    h.clock.advance(60_000);
    const res = await h.send(registerText({ contacts: ['<sip:mid@192.0.2.12>;q=0.5'], cseq: 2, expires: 1200 }));
    expect(res.getAll('contact')).toEqual([
      `<sip:high@192.0.2.11>;q=0.9;${INSTANCE};expires=540`,
      '<sip:mid@192.0.2.12>;q=0.5;expires=1200',
      '<sip:low@192.0.2.10>;q=0.2;expires=540',
    ]);
    expect(h.store.lookup(AOR, h.clock.now()).map((b) => b.q)).toEqual([0.9, 0.5, 0.2]);
  });
});

describe('Registrar options', () => {
  it('refuses inconsistent expiry limits', () => {
    const db = openDatabase(':memory:');
    const clock = new ManualClock();
    const store = new SqliteLocationStore({ db, clock });
    const base = { store, identity: new LocalIdentity(['example.com']), auth: null, clock, logger: silentLogger() };
    expect(() => new Registrar({ ...base, minExpires: 600, defaultExpires: 300 })).toThrow(RangeError);
    expect(() => new Registrar({ ...base, maxContacts: 0 })).toThrow(RangeError);
    db.close();
  });

  it('answers a method other than REGISTER with 405 SB_ERR_REG_METHOD', () => {
    const h = harness();
    const req = wire(registerText().replace('REGISTER sip:', 'OPTIONS sip:').replace('1 REGISTER', '1 OPTIONS'));
    const tx = { request: req, flow: h.udp, responses: [] as number[], respond(r: { status: number }) { this.responses.push(r.status); } };
    h.registrar.onRequest(req, tx as never);
    expect(tx.responses).toEqual([405]);
    expect(h.metrics.lastFailure).toBe('SB_ERR_REG_METHOD');
  });
});
