// run.mjs - end-to-end tests of the web UI: starts a real `ember server` (EMBER_BIN or build/ember)
// on a free port with a fresh data directory, loads profiles through /ingest, then runs every
// *.test.mjs in headless Chromium (playwright-core driving /usr/bin/chromium). Prints "ok NAME" /
// "FAIL NAME: why" per test and "N passed, N failed" at the end; screenshots go to build/screenshots/.
// Usage: node tests/e2e/run.mjs [substring of test names]

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadData } from './data.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const SHOTS = path.join(ROOT, 'build/screenshots');
const TEST_TIMEOUT_MS = 90_000;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let passed = 0, failed = 0;
function finish(code) {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = code ?? (failed ? 1 : 0);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(base, proc, ms) {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`ember server exited with status ${proc.exitCode} before it was ready`);
    try {
      const r = await fetch(base + '/ready');
      if (r.ok) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.cause ? e.cause.code || e.message : e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ember server at ${base} not ready after ${ms} ms (${last})`);
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
}

async function main() {
  const filter = process.argv[2] || '';
  const bin = process.env.EMBER_BIN || path.join(ROOT, 'build/ember');
  if (!fs.existsSync(bin)) {
    console.log(`FAIL setup: ${bin} does not exist (build it with make, or set EMBER_BIN)`);
    failed++;
    return;
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.log(`FAIL setup: playwright-core is not installed (run make deps, or npm install in tests/e2e): ${e.message}`);
    failed++;
    return;
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.mkdirSync(path.join(ROOT, 'build/test-logs'), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ember-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = path.join(ROOT, 'build/test-logs/e2e-server.log');
  const log = fs.openSync(logPath, 'w');
  const server = spawn(bin, ['server', '--http-addr', `127.0.0.1:${port}`, '--data-dir', path.join(tmp, 'data'), '--no-self-profile'],
    { stdio: ['ignore', log, log] });
  let ctx = null;
  try {
    await waitReady(base, server, 30_000);
    const data = await loadData(base, ROOT);
    ctx = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 },
      acceptDownloads: true, colorScheme: 'light',
    });
    const files = fs.readdirSync(HERE).filter((f) => f.endsWith('.test.mjs')).sort();
    for (const f of files) {
      const mod = await import(pathToFileURL(path.join(HERE, f)).href);
      for (const t of mod.tests || []) {
        if (filter && !t.name.includes(filter)) continue;
        const page = await ctx.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
        const shot = (name) => page.screenshot({ path: path.join(SHOTS, name + '.png') });
        try {
          await withTimeout(t.fn({ page, base, data, shot, tmp, root: ROOT, ctx }), TEST_TIMEOUT_MS, t.name);
          const real = errors.filter((e) => !(t.allowErrors && t.allowErrors.test(e)));
          if (real.length) throw new Error('errors in the page: ' + real.join(' | '));
          passed++;
          console.log(`ok ${t.name}`);
        } catch (e) {
          failed++;
          console.log(`FAIL ${t.name}: ${String(e && e.message ? e.message : e).split('\n').slice(0, 6).join('\n    ')}`);
          await page.screenshot({ path: path.join(SHOTS, 'FAIL-' + t.name.replace(/\W+/g, '_') + '.png') }).catch(() => {});
        } finally {
          await page.close().catch(() => {});
        }
      }
    }
  } catch (e) {
    failed++;
    console.log(`FAIL setup: ${e.message} (server log: ${logPath})`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    server.kill('SIGTERM');
    await new Promise((r) => {
      if (server.exitCode !== null) return r();
      const t = setTimeout(() => { server.kill('SIGKILL'); r(); }, 10_000);
      server.on('exit', () => { clearTimeout(t); r(); });
    });
    if (server.exitCode && server.exitCode !== 0 && server.signalCode === null) {
      failed++;
      console.log(`FAIL server shutdown: exit status ${server.exitCode} (log: ${logPath})`);
    }
    fs.closeSync(log);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(() => finish(), (e) => { console.log('FAIL runner: ' + e.stack); failed++; finish(1); });
