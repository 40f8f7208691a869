#!/usr/bin/env node
// scripts/bench-calls.sh: registers the SIPp UAS as the callee at the proxy
// under test, from a throwaway UDP socket (the UAS's own port is SIPp's):
//   REGISTER sip:DOMAIN, To/From <sip:USER@DOMAIN>,
//   Contact: <sip:USER@127.0.0.1:CONTACT_PORT>, Expires 3600, no auth.
// usage: node calls-register.mjs --server 127.0.0.1:5070 --contact-port 5301
//          [--user bob] [--domain example.test]
// Exit 0 on a 200, 1 otherwise. Bounded: 3 tries, 1 s each.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const [host, portS] = String(args.server ?? '').split(':');
const port = Number(portS);
const contactPort = Number(args['contact-port']);
const user = args.user ?? 'bob';
const domain = args.domain ?? 'example.test';
if (!host || !port || !contactPort) {
  console.error('usage: calls-register.mjs --server HOST:PORT --contact-port N [--user U] [--domain D]');
  process.exit(2);
}

const sock = dgram.createSocket('udp4');
await new Promise((r) => sock.bind(0, '127.0.0.1', r));
const local = sock.address().port;
const callId = `bench-reg-${randomBytes(6).toString('hex')}@127.0.0.1`;
let done = false;
sock.on('message', (buf) => {
  const first = buf.toString('latin1').split('\r\n', 1)[0];
  if (/^SIP\/2\.0 200 /.test(first)) {
    done = true;
    console.log(`registered ${user}@${domain} -> 127.0.0.1:${contactPort} (${first})`);
    sock.close();
    process.exit(0);
  } else if (/^SIP\/2\.0 [2-6]\d\d /.test(first)) {
    console.error(`REGISTER refused: ${first}`);
    sock.close();
    process.exit(1);
  }
});
for (let attempt = 1; attempt <= 3 && !done; attempt++) {
  const msg = [
    `REGISTER sip:${domain} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};rport;branch=z9hG4bK${randomBytes(8).toString('hex')}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${domain}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:${user}@${domain}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${attempt} REGISTER`,
    `Contact: <sip:${user}@127.0.0.1:${contactPort};transport=udp>`,
    'Expires: 3600',
    'User-Agent: sipp-bench-calls register',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  sock.send(msg, port, host);
  await new Promise((r) => setTimeout(r, 1000));
}
if (!done) {
  console.error(`no answer to REGISTER from ${host}:${port} in 3 s`);
  process.exit(1);
}
