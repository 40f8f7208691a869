/**
 * `switchboard registrations`: the live bindings of the location service
 * (the `bindings` table, migrations/002_bindings.sql), read straight from the
 * SQLite database. Safe while the server runs: the database is in WAL mode,
 * the command only reads, and it closes the database before returning.
 *
 * `expires_at` is epoch milliseconds (like every timestamp the stores write
 * from Clock.now()); a binding is live while expires_at > now.
 */
import { Command, Option } from 'commander';
import { DEFAULTS } from '../config.js';
import { aorOf } from '../registrar/binding.js';
import type { Database } from '../store/database.js';
import { SystemClock } from '../util/clock.js';
import { formatTable, processIo, withDatabase, type CliDeps } from './user-commands.js';

/** The columns of a bindings row the command shows. */
export interface BindingRow {
  aor: string;
  contact: string;
  transport: string;
  received: string | null;
  q: number | null;
  expires_at: number;
  user_agent: string | null;
  flow_id: string | null;
  instance_id: string | null;
  reg_id: number | null;
}

/** One binding as printed by `registrations --json`. */
export interface RegistrationJson {
  aor: string;
  contact: string;
  transport: string;
  /** where the REGISTER came from (`received`), null when not recorded */
  source: string | null;
  q: number | null;
  /** seconds until the binding expires, rounded up (a live binding is never 0) */
  expiresIn: number;
  userAgent: string | null;
  /** bound to the connection it was registered over (RFC 5626 outbound) */
  flowBound: boolean;
  instanceId: string | null;
  regId: number | null;
}

/**
 * The stored AOR key for an --aor argument: `sip:` is assumed when no scheme
 * is given, then the registrar's canonical form applies (aorOf: domain
 * lowercased, user unescaped, no port or parameters, sips folded into sip).
 */
export function normalizeAorFilter(aor: string): string {
  const text = aor.trim();
  const key = aorOf(/^[a-z][a-z0-9+.-]*:(?!\d)/i.test(text) ? text : `sip:${text}`);
  if (key === null) throw new Error(`not a SIP address-of-record: ${aor}`);
  return key;
}

const COLUMNS = 'aor, contact, transport, received, q, expires_at, user_agent, flow_id, instance_id, reg_id';
/** Within an AOR, the registrar's lookup order (compareBindings): q descending (none = 1.0), newest first. */
const ORDER = 'ORDER BY aor, COALESCE(q, 1.0) DESC, updated_at DESC, id';

/** The live bindings (expires_at > now), optionally of one AOR key, by AOR then lookup order. */
export function listLiveBindings(db: Database, now: number, aor?: string): BindingRow[] {
  if (aor === undefined) {
    return db.prepare<[number], BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE expires_at > ? ${ORDER}`).all(now);
  }
  return db
    .prepare<[number, string], BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE expires_at > ? AND aor = ? ${ORDER}`)
    .all(now, aor);
}

/** Seconds left until expiresAt (ms), rounded up, never negative. */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

export function registrationToJson(r: BindingRow, now: number): RegistrationJson {
  return {
    aor: r.aor,
    contact: r.contact,
    transport: r.transport,
    source: r.received,
    q: r.q,
    expiresIn: secondsLeft(r.expires_at, now),
    userAgent: r.user_agent,
    flowBound: r.flow_id !== null,
    instanceId: r.instance_id,
    regId: r.reg_id,
  };
}

/** The human table of `registrations`: one aligned line per binding. */
export function formatRegistrationsTable(rows: readonly BindingRow[], now: number): string {
  if (rows.length === 0) return 'No live registrations.\n';
  return formatTable(
    ['AOR', 'CONTACT', 'TRANSPORT', 'SOURCE', 'Q', 'EXPIRES', 'FLOW', 'USER-AGENT'],
    rows.map((r) => [
      r.aor,
      r.contact,
      r.transport,
      r.received ?? '-',
      r.q === null ? '-' : String(r.q),
      `${secondsLeft(r.expires_at, now)}s`,
      r.flow_id !== null ? 'yes' : 'no',
      r.user_agent ?? '-',
    ]),
  );
}

/** Adds `registrations` to program. */
export function registerRegistrationsCommand(program: Command, deps: CliDeps = {}): Command {
  const clock = deps.clock ?? new SystemClock();
  return program
    .command('registrations')
    .description('list live registrations (bindings) from the database; works while the server runs')
    .option('--aor <aor>', 'only the bindings of this address-of-record, e.g. alice@example.com')
    .option('--json', 'print a JSON array instead of a table')
    .addOption(new Option('--db <path>', 'SQLite database file').default(DEFAULTS.db))
    .action((o: { aor?: string; json?: boolean; db: string }) => {
      const io = deps.io ?? processIo();
      const aor = o.aor === undefined ? undefined : normalizeAorFilter(o.aor);
      const now = clock.now();
      const rows = withDatabase(o.db, false, (db) => listLiveBindings(db, now, aor), clock);
      io.stdout.write(
        o.json
          ? `${JSON.stringify(rows.map((r) => registrationToJson(r, now)), null, 2)}\n`
          : formatRegistrationsTable(rows, now),
      );
    });
}
