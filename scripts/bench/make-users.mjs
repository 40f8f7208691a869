#!/usr/bin/env node
// Creates the benchmark subscribers of scripts/bench-register.sh in one go:
//   - Switchboard's database (users table, through the built UserStore, so the
//     HA1 values are exactly what `switchboard user add` would store), in ONE
//     transaction instead of one CLI process per user;
//   - Kamailio's auth_db `subscriber` table in a SQLite file, from the schema
//     files Debian ships (/usr/share/kamailio/db_sqlite), with the MD5 HA1 in
//     `ha1` (auth_db calculate_ha1 = 0; the `password` column stays empty);
//   - the SIPp injection file: SEQUENTIAL, `user<N>;[authentication ...]`.
//
// usage: node make-users.mjs --dist DIR --count N --domain D
//                            --sb-db FILE --kam-db FILE --csv FILE
// User N is `user<N>` with password `pw<N>`.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    if (!a[i].startsWith('--') || a[i + 1] === undefined) throw new Error(`bad argument ${a[i]}`);
    out[a[i].slice(2)] = a[i + 1];
  }
  for (const k of ['dist', 'count', 'domain', 'csv']) if (!out[k]) throw new Error(`missing --${k}`);
  return out;
}

const o = args();
const count = Number(o.count);
if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive integer');
const domain = o.domain.toLowerCase();
const dist = resolve(o.dist);
const users = Array.from({ length: count }, (_, i) => ({ name: `user${i}`, pw: `pw${i}` }));

// SIPp injection file (the [authentication] keyword may sit in a CSV field).
const lines = ['SEQUENTIAL'];
for (const u of users) lines.push(`${u.name};[authentication username=${u.name} password=${u.pw}]`);
writeFileSync(o.csv, `${lines.join('\n')}\n`);

// Switchboard: open (and migrate) its database with its own code, add through UserStore.
if (o['sb-db']) {
  const { openDatabase } = await import(pathToFileURL(join(dist, 'store/database.js')).href);
  const { UserStore } = await import(pathToFileURL(join(dist, 'store/user-store.js')).href);
  const { SystemClock } = await import(pathToFileURL(join(dist, 'util/clock.js')).href);
  const db = openDatabase(o['sb-db']);
  const store = new UserStore(db, new SystemClock());
  db.transaction(() => {
    for (const u of users) if (!store.get(u.name, domain)) store.add(u.name, domain, u.pw);
  })();
  db.close();
}

// Kamailio: auth_db subscriber table (version 7) in SQLite.
if (o['kam-db']) {
  // better-sqlite3 comes from the project's node_modules (next to dist/).
  const require = createRequire(join(dist, 'package.json'));
  const Database = require('better-sqlite3');
  if (existsSync(o['kam-db'])) rmSync(o['kam-db']);
  const db = new Database(o['kam-db']);
  const schemaDir = '/usr/share/kamailio/db_sqlite';
  db.exec(readFileSync(join(schemaDir, 'standard-create.sql'), 'utf8'));
  db.exec(readFileSync(join(schemaDir, 'auth_db-create.sql'), 'utf8'));
  const ins = db.prepare('INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, \'\', ?, ?)');
  const md5 = (s) => createHash('md5').update(s).digest('hex');
  db.transaction(() => {
    for (const u of users) {
      ins.run(u.name, domain, md5(`${u.name}:${domain}:${u.pw}`), md5(`${u.name}@${domain}:${domain}:${u.pw}`));
    }
  })();
  db.close();
}
process.stdout.write(`users: ${count} (${users[0].name}..${users[count - 1].name}) in ${[o['sb-db'], o['kam-db'], o.csv].filter(Boolean).join(', ')}\n`);
