// ui_render.mjs - renders a 100,000-node profile with the UI's flame graph (ui/lib/flamegraph.js) in
// headless Chromium and reports decode + first paint time and zoom (focus) redraw times, beside
// the targets (first paint ≤ 100 ms, zoom redraw ≤ 16 ms). Serves ui/ itself from a local port.
// Usage: node bench/ui_render.mjs [nodes]   (playwright-core from tests/e2e/node_modules)

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODES = Number(process.argv[2] || 100000);
const require = createRequire(path.join(ROOT, 'tests/e2e/package.json'));
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.error('ui_render: playwright-core is missing; run `make deps` (npm install in tests/e2e)');
  process.exit(2);
}

// Deterministic pseudo-random profile tree of exactly `count` nodes (plus the root), shaped like
// a server: a few wide top levels, then long narrowing call chains; encoded as flamebearer v1.
function makeProfile(count) {
  let seed = 42;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const pkgs = ['runtime', 'net/http', 'github.com/acme/api/handlers', 'encoding/json', 'database/sql',
    'compress/gzip', 'main', 'sync', 'crypto/tls', 'github.com/acme/api/store', 'bufio', 'io', 'syscall'];
  const verbs = ['Serve', 'Read', 'Write', 'Encode', 'decode', 'lock', 'handle', 'Query', 'scan', 'alloc', 'flush', 'parse'];
  const names = ['total'];
  const nameIdx = new Map([['total', 0]]);
  const nameOf = (s) => {
    let i = nameIdx.get(s);
    if (i === undefined) { i = names.length; names.push(s); nameIdx.set(s, i); }
    return i;
  };
  // Each new node hangs under a recent node most of the time (long call chains, depth 30-80 like
  // real servers), under any node otherwise (breadth).
  const root = { n: 0, self: 0, kids: [], depth: 0 };
  const all = [root];
  for (let i = 0; i < count; i++) {
    const u = rnd();
    const pi = i < 40 ? Math.floor(rnd() * all.length)
      : u < 0.7 ? all.length - 1 - Math.floor(Math.min(all.length - 1, 30 * rnd()))
        : Math.floor(rnd() * rnd() * all.length);
    const parent = all[pi].depth > 120 ? all[Math.floor(rnd() * 40)] : all[pi];
    const nm = pkgs[Math.floor(rnd() * pkgs.length)] + '.' + verbs[Math.floor(rnd() * verbs.length)] + Math.floor(rnd() * 400);
    const ch = { n: nameOf(nm), self: 0, kids: [], depth: parent.depth + 1 };
    parent.kids.push(ch);
    all.push(ch);
  }
  const made = count;
  // totals bottom-up (children always come after their parent in all[])
  for (const node of all) node.self = node.kids.length ? Math.floor(rnd() * 50) : 1 + Math.floor(rnd() * 5000);
  for (const node of all) node.total = node.self;
  for (let i = all.length - 1; i > 0; i--) {
    const node = all[i];
    for (const c of node.kids) node.total += c.total;
  }
  root.total = root.self;
  for (const c of root.kids) root.total += c.total;
  const levels = [];
  const prevEnd = [];
  // pre-order walk with an explicit stack (the tree is too deep for recursion)
  const stack = [[root, 0, 0]];
  while (stack.length) {
    const [node, d, x] = stack.pop();
    if (!levels[d]) { levels[d] = []; prevEnd[d] = 0; }
    levels[d].push(x - prevEnd[d], node.total, node.self, node.n);
    prevEnd[d] = x + node.total;
    let cx = x + node.self;
    const items = [];
    for (const c of node.kids) { items.push([c, d + 1, cx]); cx += c.total; }
    for (let i = items.length - 1; i >= 0; i--) stack.push(items[i]);
  }
  return { version: 1, flamebearer: { names, levels, numTicks: root.total, maxSelf: 0 }, files: [], unit: 'nanoseconds', total: root.total, nodes: made + 1 };
}

const PAGE = `<!doctype html><meta charset="utf-8"><link rel="stylesheet" href="/style.css">
<body style="overflow:auto;display:block"><div id="fg" class="fg" style="width:1280px"></div>
<script type="module">
import { decode, FlameGraph } from '/lib/flamegraph.js';
const resp = await (await fetch('/__bench.json')).json();
const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
await frame();
const t0 = performance.now();
const m = decode(resp.flamebearer, resp.files);
const t1 = performance.now();
const g = new FlameGraph(document.getElementById('fg'), { unit: resp.unit });
g.setData(m, resp.unit);
g.draw();
const t2 = performance.now();
const phases = g.phases;
await frame();
const t3 = performance.now();
// zoom: focus on the widest nodes of levels 1..12, then back to the root
const zooms = [];
for (let L = 1; L < Math.min(m.depth, 13); L++) {
  let best = -1;
  for (let k = m.levelStart[L]; k < m.levelStart[L + 1]; k++) if (best < 0 || m.w[k] > m.w[best]) best = k;
  g.focus = best;
  const a = performance.now(); g.draw(); zooms.push(performance.now() - a);
}
g.focus = -1;
{ const a = performance.now(); g.draw(); zooms.push(performance.now() - a); }
// search redraw
g.setSearch('json');
const s0 = performance.now(); g.draw(); const searchMs = performance.now() - s0;
window.__result = { phases, nodes: m.n, depth: m.depth, decodeMs: t1 - t0, drawMs: t2 - t1, firstPaintMs: t3 - t0, zooms, searchMs };
</script>`;

async function main() {
  const json = JSON.stringify(makeProfile(NODES - 1));
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/__bench.html') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end(PAGE); }
    if (p === '/__bench.json') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(json); }
    const f = path.join(ROOT, 'ui', path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    if (!f.startsWith(path.join(ROOT, 'ui')) || !fs.existsSync(f) || fs.statSync(f).isDirectory()) { res.writeHead(404); return res.end(); }
    const type = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html' }[path.extname(f)] || 'application/octet-stream';
    res.writeHead(200, { 'content-type': type });
    res.end(fs.readFileSync(f));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ember-bench-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, viewport: { width: 1300, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const page = await ctx.newPage();
      const errs = [];
      page.on('pageerror', (e) => errs.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/__bench.html`);
      await page.waitForFunction(() => window.__result || null, null, { timeout: 60_000 }).catch(() => {});
      if (errs.length) throw new Error('bench page failed: ' + errs.join('; '));
      runs.push(await page.evaluate(() => window.__result)); if (process.env.SHOT) await page.screenshot({ path: process.env.SHOT });
      await page.close();
    }
    const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const r = runs[runs.length - 1];
    const first = med(runs.map((x) => x.firstPaintMs));
    const allZooms = runs.flatMap((x) => x.zooms);
    const zMed = med(allZooms), zMax = Math.max(...allZooms);
    const load = os.loadavg()[0];
    console.log(`ui_render: ${r.nodes} nodes, depth ${r.depth}, JSON ${(json.length / 1e6).toFixed(1)} MB (median of ${runs.length} runs; ` +
      `${os.cpus().length} CPUs, load average ${load.toFixed(1)}${load > os.cpus().length ? ' — machine busy, figures inflated' : ''})`);
    console.log(`  decode           ${med(runs.map((x) => x.decodeMs)).toFixed(1)} ms`);
    console.log(`  first draw       ${med(runs.map((x) => x.drawMs)).toFixed(1)} ms`);
    console.log(`  first paint      ${first.toFixed(1)} ms   (decode + draw + frame; target ≤ 100 ms)  ${first <= 100 ? 'OK' : 'SLOW'}`);
    console.log(`  zoom redraw      median ${zMed.toFixed(1)} ms, max ${zMax.toFixed(1)} ms   (target ≤ 16 ms)  ${zMax <= 16 ? 'OK' : zMed <= 16 ? 'OK (median)' : 'SLOW'}`);
    console.log(`  first draw phases ${JSON.stringify(r.phases, (k, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v))}`);
    console.log(`  search redraw    ${med(runs.map((x) => x.searchMs)).toFixed(1)} ms`);
  } finally {
    await ctx.close();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error('ui_render: ' + e.message); process.exit(1); });
