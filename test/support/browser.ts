/**
 * Headless Chromium for the WebRTC interop tests (issue 6): the Debian
 * `chromium` package driven by playwright-core (which never downloads a
 * browser of its own here), and a static file server on 127.0.0.1 for the
 * test pages and SIP.js's ES modules.
 *
 * Chromium runs inside the test's loopback-only network namespace, where
 * the only interface is `lo`. WebRTC ignores loopback interfaces unless
 * told otherwise, so `--allow-loopback-in-peer-connection` is what lets two
 * peer connections find each other (without it: no ICE candidate at all),
 * and mDNS host-name obfuscation of candidates is turned off (nothing
 * would resolve the `.local` names).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it) */
export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
];

export function chromiumInstalled(): boolean {
  return fs.existsSync(CHROMIUM);
}

export interface TestBrowser {
  context: BrowserContext;
  /** a new tab; its console output and page errors are kept in `consoleLines` */
  newPage(label: string): Promise<Page>;
  consoleLines: string[];
  close(): Promise<void>;
}

/** Launches Debian's Chromium headless with a fresh temporary profile (removed on close). */
export async function launchChromium(timeoutMs = 20_000): Promise<TestBrowser> {
  if (!chromiumInstalled()) throw new Error(`${CHROMIUM} is missing: install the Debian package chromium (.ci/run does)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-chromium-'));
  let context: BrowserContext;
  try {
    // headless comes from --headless=new in the args: playwright must not add its own flag
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: false,
      args: CHROMIUM_ARGS,
      timeout: timeoutMs,
      env: { ...process.env, HOME: profile },
    });
  } catch (err) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const consoleLines: string[] = [];
  const blank = context.pages();
  return {
    context,
    consoleLines,
    async newPage(label) {
      // reuse the tab the browser opened with, once
      const page = blank.shift() ?? (await context.newPage());
      page.on('console', (m) => consoleLines.push(`[${label}] ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => consoleLines.push(`[${label}] pageerror: ${e.message}`));
      return page;
    },
    async close() {
      try {
        await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10_000))]);
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

export interface StaticServer {
  /** http://127.0.0.1:port */
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
};

/**
 * Serves files on 127.0.0.1:<ephemeral>: `mounts` maps a URL prefix ending
 * in '/' to a directory (the longest prefix wins), or an exact path to a
 * file. Nothing outside the mounted directories is served.
 */
export async function serveStatic(mounts: Record<string, string>): Promise<StaticServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const pathname = decodeURIComponent(url.pathname);
    let file: string | undefined;
    if (mounts[pathname] !== undefined && !pathname.endsWith('/')) {
      file = mounts[pathname];
    } else {
      // the longest matching directory prefix
      const dirs = Object.entries(mounts).filter(([prefix]) => prefix.endsWith('/')).sort((a, b) => b[0].length - a[0].length);
      for (const [prefix, dir] of dirs) {
        if (!pathname.startsWith(prefix)) continue;
        const candidate = path.resolve(dir, `.${pathname.slice(prefix.length - 1)}`);
        if (candidate.startsWith(path.resolve(dir) + path.sep)) file = candidate;
        break;
      }
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    // one write for head and body: two small writes meet Nagle and delayed ACKs (~40 ms per module)
    const body = fs.readFileSync(file);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      // cacheable: a second tab of the same browser loads SIP.js's ~190 modules from the cache
      'cache-control': 'max-age=600',
    });
    res.end(body);
  });
  server.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
