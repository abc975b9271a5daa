// python.test.mjs - the Flask walkthrough in the browser (run by run.mjs): examples/flask-calc under
// Debian's /usr/bin/python3 with the ember agent (PYTHONPATH=build/python) pushes to the runner's
// server while loadgen.py drives it for 15 s; then the UI, with service flask-calc and type CPU,
// lists calc3 first by Self, and clicking it highlights calc3 in the flame graph (test hook and
// canvas pixels). Screenshot: build/screenshots/python-calc3.png.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const PY = '/usr/bin/python3';
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const SERVICE = 'flask-calc';
const LOAD_S = 15;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function exited(proc, ms) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    proc.on('exit', () => { clearTimeout(t); resolve(true); });
  });
}

function tail(file) {
  try {
    return fs.readFileSync(file, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

// Runs a command to its end; resolves with its stdout, rejects with its stderr on failure.
function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: status ${code}: ${err.slice(-800)}`))));
  });
}

async function settle(page) {
  await page.waitForFunction(() => window.__ember && window.__ember.ready(), null, { timeout: 30_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

function near(a, b, tol = 6) {
  return a && b && Math.abs(a[0] - b[0]) <= tol && Math.abs(a[1] - b[1]) <= tol && Math.abs(a[2] - b[2]) <= tol;
}

async function cssColor(page, v) {
  return page.evaluate((name) => {
    const el = document.createElement('div');
    el.style.color = getComputedStyle(document.documentElement).getPropertyValue(name);
    document.body.appendChild(el);
    const c = getComputedStyle(el).color.match(/\d+/g).map(Number);
    el.remove();
    return c;
  }, v);
}

const rects = (page, name) => page.evaluate((n) => window.__ember.nodeRects(n, 'flame'), name);
const pixel = (page, r) => page.evaluate(([x, y]) => window.__ember.pixel(x, y, 'flame'), [r.x + 1.5, r.y + 2]);

// Starts the app against base, drives LOAD_S seconds of load, stops it (SIGINT: the last interval is sent).
async function profileFlaskCalc(base, root) {
  const pypath = path.join(root, 'build/python');
  assert(fs.existsSync(path.join(pypath, 'ember/__init__.py')), `${pypath}/ember missing: run make`);
  assert(fs.existsSync(PY), `${PY} missing (Debian's python3 with python3-flask)`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = path.join(root, 'build/test-logs/e2e-flask-calc.log');
  const log = fs.openSync(logPath, 'w');
  const env = {
    ...process.env, PYTHONPATH: pypath, PORT: String(port), EMBER_SERVER_ADDRESS: base,
    EMBER_APPLICATION_NAME: SERVICE, EMBER_UPLOAD_INTERVAL: '2', CALC_MS: '20',
  };
  const app = spawn(PY, [path.join(root, 'examples/flask-calc/app.py')], { env, stdio: ['ignore', log, log] });
  try {
    const end = Date.now() + 30_000;
    for (;;) {
      assert(app.exitCode === null, `flask-calc exited with status ${app.exitCode}: ${tail(logPath)}`);
      assert(Date.now() < end, `flask-calc not up on ${url} after 30 s: ${tail(logPath)}`);
      try {
        if ((await fetch(url + '/health')).ok) break;
      } catch { /* not listening yet */ }
      await sleep(100);
    }
    const out = await run(PY, [path.join(root, 'examples/flask-calc/loadgen.py'), '--url', url, '--duration', String(LOAD_S),
      '--workers', '3', '--paths', '/calc,/calc,/sleep'], { env: process.env });
    const last = out.trim().split('\n').pop();
    assert(/ 0 errors/.test(last) && !/ 0 ok/.test(last), `load failed: ${out}`);
  } finally {
    app.kill('SIGINT');
    if (!(await exited(app, 15_000))) {
      app.kill('SIGKILL');
      await exited(app, 5_000);
    }
    fs.closeSync(log);
  }
  assert(!/Traceback/.test(tail(logPath)), `flask-calc raised: ${tail(logPath)}`);
}

export const tests = [
  {
    name: 'python: Flask calc walkthrough - calc3 first by Self, click highlights it',
    async fn({ page, base, shot, root }) {
      await profileFlaskCalc(base, root);
      await page.goto(base + '/');
      await settle(page);
      const services = await page.$$eval('#service option', (o) => o.map((x) => x.value));
      assert(services.includes(SERVICE), `service picker lists ${JSON.stringify(services)}, no ${SERVICE}`);
      await page.selectOption('#service', SERVICE);
      await settle(page);
      await page.selectOption('#ptype', { label: 'CPU' });
      await settle(page);
      const st = await page.evaluate(() => window.__ember.state());
      assert(st.service === SERVICE && st.type === CPU, `state ${JSON.stringify(st)}, want ${SERVICE} / ${CPU}`);
      const sortState = await page.$eval('#table-pane th[aria-sort="descending"]', (th) => th.textContent.trim());
      assert(sortState.startsWith('Self'), `the table should sort by Self descending, header says ${sortState}`);
      const rows = await page.$$eval('#table-pane tbody tr', (trs) => trs.map((tr) => tr.dataset.name));
      const hot = rows[0];
      assert(/(^|\.)calc3$/.test(hot || ''), `first row by Self is ${hot}, not calc3: ${JSON.stringify(rows.slice(0, 5))}`);
      const other = rows.find((n) => /(^|\.)calc1$/.test(n));
      assert(other, `no calc1 row: ${JSON.stringify(rows.slice(0, 10))}`);

      const hotRects = await rects(page, hot);
      const otherRects = await rects(page, other);
      assert(hotRects.length >= 1 && otherRects.length >= 1, `flame frames: ${hot} ${hotRects.length}, ${other} ${otherRects.length}`);
      const dim = await cssColor(page, '--fg-dim');
      const before = await pixel(page, hotRects[0]);
      const otherBefore = await pixel(page, otherRects[0]);
      assert(!near(before, dim) && !near(otherBefore, dim), `frames start dimmed: ${before} ${otherBefore} (dim ${dim})`);
      await page.click(`#table-pane tbody tr[data-name="${hot}"] .sym-name`);
      await settle(page);
      const hl = await page.evaluate(() => window.__ember.highlighted());
      assert(hl === hot, `highlighted() is ${hl}, want ${hot}`);
      const selected = await page.$eval(`#table-pane tbody tr[data-name="${hot}"]`, (tr) => tr.classList.contains('selected'));
      assert(selected, 'the clicked row should be marked selected');
      for (const r of hotRects) {
        const p = await pixel(page, r);
        assert(near(p, before), `${hot} frame changed colour when highlighted: ${p} vs ${before}`);
      }
      const otherAfter = await pixel(page, otherRects[0]);
      assert(near(otherAfter, dim), `${other} should be dimmed (${dim}) while ${hot} is highlighted, is ${otherAfter}`);
      await shot('python-calc3');
    },
  },
];
