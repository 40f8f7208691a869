import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatTable,
  formatUsersTable,
  printable,
  readPasswordFromStream,
  registerUserCommands,
  type CliIo,
} from '../../../src/cli/user-commands.js';
import { openDatabase } from '../../../src/store/database.js';
import { UserStore } from '../../../src/store/user-store.js';
import { ManualClock } from '../../../src/util/clock.js';
import { ha1 } from '../../../src/util/digest-hash.js';

interface RunResult {
  code: number;
  out: string;
  err: string;
}

interface RunOptions {
  /** stdin contents (a pipe) or a ready stream */
  stdin?: string | NodeJS.ReadableStream;
  tty?: boolean;
  /** called with everything written to stderr so far, after each write (to answer prompts) */
  onStderr?: (err: string) => void;
}

let dir: string;
let db: string;
let clock: ManualClock;

/** Runs `switchboard <args>` in-process the way main.ts does: thrown errors → stderr + exit 1. */
async function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  let out = '';
  let err = '';
  const stdin = (typeof opts.stdin === 'string' || opts.stdin === undefined
    ? Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)])
    : opts.stdin) as CliIo['stdin'];
  if (opts.tty) stdin.isTTY = true;
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: {
      write: (s: string) => {
        err += s;
        opts.onStderr?.(err);
      },
    },
    stdin,
  };
  const program = new Command()
    .name('switchboard')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerUserCommands(program, { io, clock });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode, out, err };
    err += `switchboard: ${(e as Error).message}\n`;
    return { code: 1, out, err };
  }
}

function readUser(username: string, domain: string) {
  const d = openDatabase(db);
  try {
    return new UserStore(d, clock).get(username, domain);
  } finally {
    d.close();
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-user-'));
  db = path.join(dir, 'sub', 'switchboard.db');
  clock = new ManualClock(Date.UTC(2024, 4, 1, 12, 0, 0));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('switchboard user', () => {
  it('add, list, passwd, disable, enable, remove round trip', async () => {
    let r = await run(['user', 'add', 'alice', '--domain', 'Example.COM', '--password', 'pw1', '--db', db]);
    expect(r).toEqual({ code: 0, out: 'added alice@example.com\n', err: '' });
    expect(fs.existsSync(db)).toBe(true);
    clock.advance(60_000);
    expect((await run(['user', 'add', 'bob', '--domain', 'other.org', '--password', 'x', '--db', db])).code).toBe(0);

    r = await run(['user', 'list', '--db', db]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      'USERNAME  DOMAIN       ENABLED  CREATED\n' +
        'alice     example.com  yes      2024-05-01T12:00:00Z\n' +
        'bob       other.org    yes      2024-05-01T12:01:00Z\n',
    );

    r = await run(['user', 'list', '--json', '--domain', 'EXAMPLE.com', '--db', db]);
    expect(JSON.parse(r.out)).toEqual([
      { username: 'alice', domain: 'example.com', enabled: true, created: '2024-05-01T12:00:00Z' },
    ]);

    r = await run(['user', 'passwd', 'alice', '--domain', 'example.com', '--password', 'pw2', '--db', db]);
    expect(r).toEqual({ code: 0, out: 'password changed for alice@example.com\n', err: '' });
    const u = readUser('alice', 'example.com')!;
    expect(u.ha1Md5).toBe(ha1('MD5', 'alice', 'example.com', 'pw2'));
    expect(u.ha1Sha256).toBe(ha1('SHA-256', 'alice', 'example.com', 'pw2'));

    r = await run(['user', 'disable', 'alice', '--domain', 'example.com', '--db', db]);
    expect(r).toEqual({ code: 0, out: 'disabled alice@example.com\n', err: '' });
    expect(readUser('alice', 'example.com')!.enabled).toBe(false);
    r = await run(['user', 'list', '--json', '--db', db]);
    expect(JSON.parse(r.out).map((x: { enabled: boolean }) => x.enabled)).toEqual([false, true]);

    r = await run(['user', 'enable', 'alice', '--domain', 'example.com', '--db', db]);
    expect(r).toEqual({ code: 0, out: 'enabled alice@example.com\n', err: '' });
    expect(readUser('alice', 'example.com')!.enabled).toBe(true);

    r = await run(['user', 'remove', 'alice', '--domain', 'example.com', '--db', db]);
    expect(r).toEqual({ code: 0, out: 'removed alice@example.com\n', err: '' });
    expect(readUser('alice', 'example.com')).toBeUndefined();
    r = await run(['user', 'list', '--json', '--db', db]);
    expect(JSON.parse(r.out)).toEqual([expect.objectContaining({ username: 'bob' })]);
  });

  it('stores the HA1 values of the password, never the password', async () => {
    await run(['user', 'add', 'alice', '--domain', 'example.com', '--password', 'TopSecret-42', '--db', db]);
    const u = readUser('alice', 'example.com')!;
    expect(u.ha1Md5).toBe(ha1('MD5', 'alice', 'example.com', 'TopSecret-42'));
    expect(u.ha1Sha256).toBe(ha1('SHA-256', 'alice', 'example.com', 'TopSecret-42'));
    const d = openDatabase(db);
    try {
      const dump = JSON.stringify(d.prepare('SELECT * FROM users').all());
      expect(dump).not.toContain('TopSecret-42');
    } finally {
      d.close();
    }
  });

  it('refuses a duplicate user with exit 1 and a one-line message', async () => {
    await run(['user', 'add', 'alice', '--domain', 'example.com', '--password', 'a', '--db', db]);
    const r = await run(['user', 'add', 'alice', '--domain', 'EXAMPLE.com', '--password', 'b', '--db', db]);
    expect(r).toEqual({ code: 1, out: '', err: 'switchboard: user alice@example.com already exists\n' });
    // The original password survives.
    expect(readUser('alice', 'example.com')!.ha1Md5).toBe(ha1('MD5', 'alice', 'example.com', 'a'));
  });

  it('refuses a duplicate before asking for a password', async () => {
    await run(['user', 'add', 'alice', '--domain', 'example.com', '--password', 'a', '--db', db]);
    let prompted = false;
    const r = await run(['user', 'add', 'alice', '--domain', 'example.com', '--db', db], {
      stdin: new PassThrough(),
      tty: true,
      onStderr: () => (prompted = true),
    });
    expect(r.code).toBe(1);
    expect(prompted).toBe(false);
  });

  it('reads the password from stdin with --password-stdin', async () => {
    let r = await run(['user', 'add', 'carol', '--domain', 'example.com', '--password-stdin', '--db', db], {
      stdin: 'from stdin\n',
    });
    expect(r.code).toBe(0);
    expect(readUser('carol', 'example.com')!.ha1Md5).toBe(ha1('MD5', 'carol', 'example.com', 'from stdin'));

    r = await run(['user', 'passwd', 'carol', '--domain', 'example.com', '--password-stdin', '--db', db], {
      stdin: 'second\r\n',
    });
    expect(r.code).toBe(0);
    const u = readUser('carol', 'example.com')!;
    expect(u.ha1Md5).toBe(ha1('MD5', 'carol', 'example.com', 'second'));
    expect(u.ha1Sha256).toBe(ha1('SHA-256', 'carol', 'example.com', 'second'));
  });

  it('refuses an empty or multi-line password on stdin', async () => {
    for (const stdin of ['', '\n', 'a\nb\n']) {
      const r = await run(['user', 'add', 'dan', '--domain', 'example.com', '--password-stdin', '--db', db], { stdin });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^switchboard: .*stdin/);
    }
    expect(fs.existsSync(db)).toBe(false);
  });

  it('needs a password flag when stdin is not a terminal', async () => {
    const r = await run(['user', 'add', 'dan', '--domain', 'example.com', '--db', db], { stdin: 'ignored\n' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^switchboard: no password given/);
    expect(fs.existsSync(db)).toBe(false);
  });

  it('refuses --password together with --password-stdin', async () => {
    const r = await run(['user', 'add', 'dan', '--domain', 'example.com', '--password', 'a', '--password-stdin', '--db', db]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot be used with/);
  });

  it('requires --domain', async () => {
    const r = await run(['user', 'add', 'dan', '--password', 'a', '--db', db]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/required option '--domain/);
  });

  describe('on a terminal', () => {
    /** A fake TTY that answers each prompt with the next of answers. */
    function answering(answers: string[]): RunOptions {
      const stdin = new PassThrough();
      let prompts = 0;
      return {
        stdin,
        tty: true,
        onStderr: (err) => {
          const n = (err.match(/password: /gi) ?? []).length;
          if (n > prompts) {
            prompts = n;
            const a = answers.shift();
            if (a !== undefined) setImmediate(() => stdin.write(a));
          }
        },
      };
    }

    it('asks twice without echoing the password', async () => {
      const r = await run(['user', 'add', 'erin', '--domain', 'example.com', '--db', db], answering(['s3cret\r', 's3cret\r']));
      expect(r.code).toBe(0);
      expect(r.err).toContain('Password: ');
      expect(r.err).toContain('Retype password: ');
      expect(r.err).not.toContain('s3cret');
      expect(r.out).toBe('added erin@example.com\n');
      expect(readUser('erin', 'example.com')!.ha1Md5).toBe(ha1('MD5', 'erin', 'example.com', 's3cret'));
    });

    it('fails when the two entries differ', async () => {
      const r = await run(['user', 'add', 'erin', '--domain', 'example.com', '--db', db], answering(['one\r', 'two\r']));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/switchboard: passwords do not match\n$/);
      expect(readUser('erin', 'example.com')).toBeUndefined();
    });

    it('prompts for passwd too', async () => {
      await run(['user', 'add', 'erin', '--domain', 'example.com', '--password', 'old', '--db', db]);
      const r = await run(['user', 'passwd', 'erin', '--domain', 'example.com', '--db', db], answering(['new\r', 'new\r']));
      expect(r.code).toBe(0);
      expect(readUser('erin', 'example.com')!.ha1Sha256).toBe(ha1('SHA-256', 'erin', 'example.com', 'new'));
    });
  });

  it('reports a missing user with exit 1', async () => {
    await run(['user', 'add', 'alice', '--domain', 'example.com', '--password', 'a', '--db', db]);
    for (const cmd of ['remove', 'disable', 'enable']) {
      const r = await run(['user', cmd, 'zed', '--domain', 'example.com', '--db', db]);
      expect(r).toEqual({ code: 1, out: '', err: 'switchboard: no user zed@example.com\n' });
    }
    // passwd fails before reading a password
    const r = await run(['user', 'passwd', 'zed', '--domain', 'example.com', '--password-stdin', '--db', db], {
      stdin: new PassThrough(), // never ends: reading it would hang the test
    });
    expect(r).toEqual({ code: 1, out: '', err: 'switchboard: no user zed@example.com\n' });
  });

  it('does not create a database for commands other than add', async () => {
    for (const args of [['list'], ['remove', 'a', '--domain', 'x'], ['disable', 'a', '--domain', 'x']]) {
      const r = await run(['user', ...args, '--db', db]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^switchboard: no database at /);
    }
    expect(fs.existsSync(db)).toBe(false);
  });

  it('lists nothing politely', async () => {
    await run(['user', 'add', 'alice', '--domain', 'example.com', '--password', 'a', '--db', db]);
    expect((await run(['user', 'list', '--domain', 'nowhere.net', '--db', db])).out).toBe('No users.\n');
    expect((await run(['user', 'list', '--domain', 'nowhere.net', '--json', '--db', db])).out).toBe('[]\n');
  });
});

describe('helpers', () => {
  it('aligns table columns without trailing spaces', () => {
    expect(formatTable(['A', 'BB'], [['xxx', 'y'], ['z', '']])).toBe('A    BB\nxxx  y\nz\n');
  });

  it('escapes control characters before they reach a terminal', () => {
    expect(printable('ok\u001b[2Jbad\u0007\u009b')).toBe('ok\\x1b[2Jbad\\x07\\x9b');
    expect(formatTable(['H'], [['a\nb']])).toBe('H\na\\x0ab\n');
  });

  it('formats the users table', () => {
    expect(formatUsersTable([])).toBe('No users.\n');
  });

  it('reads one line from a stream', async () => {
    expect(await readPasswordFromStream(Readable.from([Buffer.from('p'), Buffer.from('w\n')]))).toBe('pw');
    expect(await readPasswordFromStream(Readable.from([Buffer.from(' spaced pw ')]))).toBe(' spaced pw ');
    await expect(readPasswordFromStream(Readable.from([]))).rejects.toThrow(/no password/);
  });
});
