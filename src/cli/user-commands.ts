/**
 * `switchboard user …`: subscriber administration on the SQLite database
 * (issue 5). Passwords are handed to UserStore, which keeps only the digest
 * HA1 values; they are never written anywhere else.
 *
 * Expected failures (user exists, no such user, no password) are thrown as
 * plain Errors: the caller (main.ts) prints `switchboard: <message>` to stderr
 * and exits 1, without a stack trace. The database is opened per command and
 * closed before the command returns, so the commands run safely next to a
 * running server (WAL mode).
 *
 * Also home of the small helpers the admin commands share (I/O, tables,
 * opening the database).
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { Command, Option } from 'commander';
import { DEFAULTS } from '../config.js';
import { openDatabase, type Database } from '../store/database.js';
import { UserExistsError, UserStore, normalizeDomain, type UserRecord } from '../store/user-store.js';
import { SystemClock, type Clock } from '../util/clock.js';

// ---------------------------------------------------------------------------
// Shared helpers of the admin commands
// ---------------------------------------------------------------------------

/** Where a command reads and writes; the process streams unless a test injects others. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface CliDeps {
  io?: CliIo;
  clock?: Clock;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}

/**
 * Runs fn on the database at path and closes it before returning. Unless
 * create is set, a missing file is an error rather than a new empty database
 * (a mistyped --db should not look like "no users").
 */
export function withDatabase<T>(path: string, create: boolean, fn: (db: Database) => T, clock?: Clock): T {
  if (!create && path !== ':memory:' && !existsSync(path)) {
    throw new Error(`no database at ${path} (give --db PATH; it is created by \`switchboard serve\` or \`switchboard user add\`)`);
  }
  const db = openDatabase(path, clock ? { clock } : {});
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

// C0 controls, DEL and C1 controls: never sent raw to a terminal (user agents come off the network).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Makes a value safe to print in a terminal: control characters become `\xNN`. */
export function printable(value: string): string {
  return value.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Left-aligned columns separated by two spaces, header first; no trailing
 * spaces. Cells are made printable.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => printable(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      widths
        .map((w, i) => (r[i] ?? '').padEnd(w))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Epoch milliseconds as ISO 8601 UTC without the milliseconds, e.g. `2024-05-01T12:00:00Z`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------

/**
 * Reads the password given on stdin (`--password-stdin`): everything up to
 * EOF, without one trailing newline. It must be one non-empty line.
 */
export async function readPasswordFromStream(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (text.length === 0) throw new Error('no password on stdin');
  if (/[\r\n]/.test(text)) throw new Error('the password on stdin must be a single line');
  return text;
}

/**
 * Asks for a password twice on a terminal without echoing it. The prompts go
 * to stderr so that stdout stays clean. Ctrl-C cancels.
 */
export async function promptNewPassword(io: CliIo): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      if (!muted) io.stderr.write(chunk.toString());
      cb();
    },
  });
  const rl = createInterface({ input: io.stdin, output, terminal: true, historySize: 0 });
  const abort = new AbortController();
  rl.on('SIGINT', () => abort.abort());
  const ask = async (prompt: string): Promise<string> => {
    const answer = rl.question(prompt, { signal: abort.signal }); // writes the prompt synchronously
    muted = true;
    try {
      return await answer;
    } finally {
      muted = false;
      io.stderr.write('\n');
    }
  };
  try {
    const first = await ask('Password: ');
    if (first.length === 0) throw new Error('empty password');
    const second = await ask('Retype password: ');
    if (first !== second) throw new Error('passwords do not match');
    return first;
  } catch (err) {
    if (abort.signal.aborted) throw new Error('cancelled');
    throw err;
  } finally {
    rl.close();
  }
}

interface PasswordOptions {
  password?: string;
  passwordStdin?: boolean;
}

/** The password from --password, --password-stdin or a terminal prompt, in that order. */
export async function obtainPassword(o: PasswordOptions, io: CliIo): Promise<string> {
  if (o.password !== undefined) {
    if (o.password.length === 0) throw new Error('the password must not be empty');
    return o.password;
  }
  if (o.passwordStdin) return readPasswordFromStream(io.stdin);
  if (io.stdin.isTTY) return promptNewPassword(io);
  throw new Error('no password given: use --password <p>, --password-stdin, or run on a terminal to be prompted');
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

export interface UserJson {
  username: string;
  domain: string;
  enabled: boolean;
  /** ISO 8601 UTC */
  created: string;
}

export function userToJson(u: UserRecord): UserJson {
  return { username: u.username, domain: u.domain, enabled: u.enabled, created: isoSeconds(u.createdAt) };
}

/** The human table of `user list`. */
export function formatUsersTable(users: readonly UserRecord[]): string {
  if (users.length === 0) return 'No users.\n';
  return formatTable(
    ['USERNAME', 'DOMAIN', 'ENABLED', 'CREATED'],
    users.map((u) => [u.username, u.domain, u.enabled ? 'yes' : 'no', isoSeconds(u.createdAt)]),
  );
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

interface DbOption {
  db: string;
}
interface DomainOption extends DbOption {
  domain: string;
}

const dbOption = (): Option => new Option('--db <path>', 'SQLite database file').default(DEFAULTS.db);
const domainOption = (): Option => new Option('--domain <domain>', 'the user\'s SIP domain (the digest realm)').makeOptionMandatory();
const passwordOptions = (): Option[] => [
  new Option('--password <password>', 'the password (visible in the process list and shell history)'),
  new Option('--password-stdin', 'read the password from stdin (one line)').conflicts('password'),
];

function notFound(username: string, domain: string): Error {
  return new Error(`no user ${username}@${normalizeDomain(domain)}`);
}

/** Adds `user add|remove|list|passwd|enable|disable` to program. */
export function registerUserCommands(program: Command, deps: CliDeps = {}): Command {
  const io = (): CliIo => deps.io ?? processIo();
  const clock = deps.clock ?? new SystemClock();
  const users = <T>(path: string, create: boolean, fn: (store: UserStore) => T): T =>
    withDatabase(path, create, (db) => fn(new UserStore(db, clock)), clock);

  const user = program.command('user').description('manage SIP user accounts');

  const add = user
    .command('add <username>')
    .description('create a user (asks for the password on a terminal unless given)')
    .addOption(domainOption());
  for (const o of passwordOptions()) add.addOption(o);
  add.addOption(dbOption()).action(async (username: string, o: DomainOption & PasswordOptions) => {
    if (existsSync(o.db)) {
      // Fail before asking for a password.
      if (users(o.db, false, (s) => s.get(username, o.domain))) {
        throw new UserExistsError(username, normalizeDomain(o.domain));
      }
    }
    const password = await obtainPassword(o, io());
    users(o.db, true, (s) => s.add(username, o.domain, password));
    io().stdout.write(`added ${username}@${normalizeDomain(o.domain)}\n`);
  });

  const passwd = user
    .command('passwd <username>')
    .description('change a user\'s password (asks on a terminal unless given)')
    .addOption(domainOption());
  for (const o of passwordOptions()) passwd.addOption(o);
  passwd.addOption(dbOption()).action(async (username: string, o: DomainOption & PasswordOptions) => {
    if (!users(o.db, false, (s) => s.get(username, o.domain))) throw notFound(username, o.domain);
    const password = await obtainPassword(o, io());
    if (!users(o.db, false, (s) => s.setPassword(username, o.domain, password))) throw notFound(username, o.domain);
    io().stdout.write(`password changed for ${username}@${normalizeDomain(o.domain)}\n`);
  });

  user
    .command('remove <username>')
    .description('delete a user')
    .addOption(domainOption())
    .addOption(dbOption())
    .action((username: string, o: DomainOption) => {
      if (!users(o.db, false, (s) => s.remove(username, o.domain))) throw notFound(username, o.domain);
      io().stdout.write(`removed ${username}@${normalizeDomain(o.domain)}\n`);
    });

  for (const enabled of [false, true]) {
    const verb = enabled ? 'enable' : 'disable';
    user
      .command(`${verb} <username>`)
      .description(enabled ? 'allow a disabled user to authenticate again' : 'refuse authentication for a user without deleting it')
      .addOption(domainOption())
      .addOption(dbOption())
      .action((username: string, o: DomainOption) => {
        if (!users(o.db, false, (s) => s.setEnabled(username, o.domain, enabled))) throw notFound(username, o.domain);
        io().stdout.write(`${verb}d ${username}@${normalizeDomain(o.domain)}\n`);
      });
  }

  user
    .command('list')
    .description('list users: username, domain, enabled, created')
    .option('--domain <domain>', 'only the users of this domain')
    .option('--json', 'print a JSON array instead of a table')
    .addOption(dbOption())
    .action((o: DbOption & { domain?: string; json?: boolean }) => {
      const list = users(o.db, false, (s) => s.list(o.domain));
      io().stdout.write(o.json ? `${JSON.stringify(list.map(userToJson), null, 2)}\n` : formatUsersTable(list));
    });

  return user;
}
