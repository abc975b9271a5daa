// ui.test.mjs - end-to-end tests of the web UI against a real server (run by run.mjs).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EXPECT } from './data.mjs';

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(a, b, what) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${what}: got ${sa}, want ${sb}`);
}

// Waits until the UI has finished loading and drawn a frame.
async function settle(page) {
  await page.waitForFunction(() => window.__ember && window.__ember.ready(), null, { timeout: 30_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

const SHOP = `?service=${EXPECT.service}&type=${encodeURIComponent(EXPECT.cpuType)}`;

async function open(page, base, qs = SHOP) {
  await page.goto(base + '/' + qs);
  await settle(page);
}

async function firstRowName(page) {
  return page.$eval('#table-pane tbody tr', (tr) => tr.dataset.name);
}

async function columnNames(page) {
  return page.$$eval('#table-pane tbody tr', (trs) => trs.map((tr) => tr.dataset.name));
}

// Pixel inside a frame's rectangle, away from its label.
async function framePixel(page, rect, which = 'flame') {
  return page.evaluate(([x, y, w]) => window.__ember.pixel(x, y, w), [rect.x + 1.5, rect.y + 2, which]);
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

async function rects(page, name, which = 'flame') {
  return page.evaluate(([n, w]) => window.__ember.nodeRects(n, w), [name, which]);
}

export const tests = [
  {
    name: 'pick service and type: first row by Self is the hot function',
    async fn({ page, base, shot }) {
      await page.goto(base + '/');
      await settle(page);
      const services = await page.$$eval('#service option', (o) => o.map((x) => x.value));
      assert(services.includes(EXPECT.service), `service picker lists ${JSON.stringify(services)}, no ${EXPECT.service}`);
      await page.selectOption('#service', EXPECT.service);
      await settle(page);
      await page.selectOption('#ptype', EXPECT.cpuType);
      await settle(page);
      const label = await page.$eval('#ptype', (s) => s.options[s.selectedIndex].textContent);
      eq(label, 'CPU', 'human name of the CPU type');
      eq(await firstRowName(page), EXPECT.hot, 'first table row (Self desc)');
      const sortState = await page.$eval('#table-pane th[aria-sort="descending"]', (th) => th.textContent.trim());
      assert(sortState.startsWith('Self'), `default sort should be Self descending, header says ${sortState}`);
      const st = await page.evaluate(() => window.__ember.state());
      eq([st.service, st.type], [EXPECT.service, EXPECT.cpuType], 'state in the URL');
      assert(page.url().includes('service=shop'), `URL ${page.url()} lacks service=shop`);
      assert((await rects(page, EXPECT.hot)).length >= 2, 'calc3 should appear twice in the flame graph');
      await shot('both');
    },
  },
  {
    name: 'profile type picker shows human names of every type of a Go service',
    async fn({ page, base }) {
      await open(page, base, '?service=go-app');
      const names = await page.$$eval('#ptype option', (o) => o.map((x) => x.textContent));
      for (const want of ['CPU', 'Allocated bytes', 'In-use bytes', 'Lock contentions']) {
        assert(names.includes(want), `type picker ${JSON.stringify(names)} lacks "${want}"`);
      }
      assert(!names.some((n) => n.includes(':')), `raw type ids shown: ${JSON.stringify(names)}`);
      await page.selectOption('#ptype', { label: 'In-use bytes' });
      await settle(page);
      const total = await page.$eval('#summary', (e) => e.textContent);
      assert(/\d( |\.\d+ )(B|KB|MB|GB)/.test(total), `in-use bytes total should be in bytes: "${total}"`);
    },
  },
  {
    name: 'click a table row highlights every occurrence (test hook and canvas pixels)',
    async fn({ page, base, shot }) {
      await open(page, base);
      const hot = await rects(page, EXPECT.hot);
      const other = await rects(page, 'main');
      assert(hot.length >= 2 && other.length === 1, `frames: calc3 ${hot.length}, main ${other.length}`);
      const before = await Promise.all(hot.map((r) => framePixel(page, r)));
      const mainBefore = await framePixel(page, other[0]);
      const dim = await cssColor(page, '--fg-dim');
      assert(!near(before[0], dim), 'calc3 should not start dimmed');
      await page.click(`#table-pane tbody tr[data-name="${EXPECT.hot}"] .sym-name`);
      await settle(page);
      eq(await page.evaluate(() => window.__ember.highlighted()), EXPECT.hot, 'highlighted()');
      const rowSel = await page.$eval(`#table-pane tbody tr[data-name="${EXPECT.hot}"]`, (tr) => tr.classList.contains('selected'));
      assert(rowSel, 'the clicked row should be marked selected');
      const after = await Promise.all(hot.map((r) => framePixel(page, r)));
      for (let i = 0; i < hot.length; i++) {
        assert(near(after[i], before[i]), `calc3 frame ${i} changed colour when highlighted: ${after[i]} vs ${before[i]}`);
      }
      const mainAfter = await framePixel(page, other[0]);
      assert(near(mainAfter, dim), `main should be dimmed (${dim}), is ${mainAfter}`);
      await shot('highlight');
      await page.click(`#table-pane tbody tr[data-name="${EXPECT.hot}"] .sym-name`);
      await settle(page);
      eq(await page.evaluate(() => window.__ember.highlighted()), null, 'highlight after a second click');
      assert(near(await framePixel(page, other[0]), mainBefore), 'main should get its colour back');
    },
  },
  {
    name: 'sort by Total, then flip; symbol sorts ascending first',
    async fn({ page, base }) {
      await open(page, base, SHOP + '&view=table');
      await page.click('#table-pane th button[data-sort="total"]');
      const totals = await page.evaluate(() => window.__ember.state());
      assert(totals, 'state');
      const names = await columnNames(page);
      eq(names[0], 'main', 'first row by Total desc');
      const cells = await page.$$eval('#table-pane tbody tr td:nth-child(3) small', (s) => s.map((x) => parseFloat(x.textContent)));
      for (let i = 1; i < cells.length; i++) assert(cells[i - 1] >= cells[i], `Total column not descending at row ${i}: ${cells}`);
      await page.click('#table-pane th button[data-sort="total"]');
      const asc = await page.$$eval('#table-pane tbody tr td:nth-child(3) small', (s) => s.map((x) => parseFloat(x.textContent)));
      for (let i = 1; i < asc.length; i++) assert(asc[i - 1] <= asc[i], `Total column not ascending after a second click: ${asc}`);
      await page.click('#table-pane th button[data-sort="name"]');
      const syms = await columnNames(page);
      eq(syms, syms.slice().sort((a, b) => a.localeCompare(b)), 'symbols ascending');
      await page.fill('#search', 'calc');
      await page.waitForTimeout(300);
      const filtered = await columnNames(page);
      eq(filtered, ['calc1', 'calc2', 'calc3'], 'rows after filtering by "calc"');
    },
  },
  {
    name: 'focus a frame from its menu, Esc resets the zoom',
    async fn({ page, base, shot }) {
      await open(page, base, SHOP + '&view=flame');
      const run = (await rects(page, 'run'))[0];
      assert(run, 'frame "run" not drawn');
      await page.mouse.move(run.pageX, run.pageY);
      await page.waitForSelector('.fg-tooltip', { state: 'visible' });
      const tip = await page.$eval('.fg-tooltip', (e) => e.textContent);
      assert(tip.includes('run') && /\d+(\.\d+)? (s|ms|min)/.test(tip) && tip.includes('%'), `tooltip: ${tip}`);
      await page.mouse.click(run.pageX, run.pageY);
      await page.click('.fg-menu button[data-action="focus"]');
      await settle(page);
      const f = await page.evaluate(() => window.__ember.focused());
      eq(f && f.name, 'run', 'focused frame');
      const w = await page.evaluate(() => window.__ember.graph().width);
      const runNow = (await rects(page, 'run'))[0];
      assert(Math.abs(runNow.w - w) < 1.5 && runNow.x < 0.5, `focused frame should span the width (${w}): ${JSON.stringify(runNow)}`);
      assert(decodeURIComponent(page.url()).includes('focus=main;run'), `URL should hold the focus path: ${page.url()}`);
      const io = await rects(page, 'io');
      assert(io.every((r) => r.w === w), 'siblings of the focused frame should be hidden');
      await shot('flame-focused');
      await page.keyboard.press('Escape');
      await settle(page);
      eq(await page.evaluate(() => window.__ember.focused()), null, 'focus after Esc');
      assert(!page.url().includes('focus='), 'URL focus cleared after Esc');
      // "/" focuses the search box; typing dims frames that do not match
      await page.keyboard.press('/');
      eq(await page.evaluate(() => document.activeElement.id), 'search', 'element focused by "/"');
      await page.keyboard.type('read');
      await page.waitForTimeout(300);
      await settle(page);
      const dim = await cssColor(page, '--fg-dim');
      const mainPx = await framePixel(page, (await rects(page, 'main'))[0]);
      const readPx = await framePixel(page, (await rects(page, 'read'))[0]);
      assert(near(mainPx, dim) && !near(readPx, dim), `search: main ${mainPx} should be dim ${dim}, read ${readPx} not`);
      await shot('flame-search');
    },
  },
  {
    name: 'sandwich view from the table shows callers above and callees below',
    async fn({ page, base, shot }) {
      await open(page, base);
      await page.hover(`#table-pane tbody tr[data-name="${EXPECT.hot}"]`);
      await page.click(`#table-pane tbody tr[data-name="${EXPECT.hot}"] [data-act="sandwich"]`);
      await settle(page);
      await page.waitForFunction(() => window.__ember.graph('callers') && window.__ember.graph('callers').model);
      await settle(page);
      const st = await page.evaluate(() => window.__ember.state());
      eq([st.view, st.fn], ['sandwich', EXPECT.hot], 'view and function');
      const callers = await page.evaluate(() => window.__ember.names('callers'));
      assert(callers.includes('run') && callers.includes('io') && callers.includes('main'), `callers: ${callers}`);
      const root = await rects(page, EXPECT.hot, 'callers');
      const run = await rects(page, 'run', 'callers');
      assert(root.length === 1 && run.length === 1 && run[0].y < root[0].y, 'callers are drawn above the function (inverted)');
      const callees = await page.evaluate(() => window.__ember.names('callees'));
      eq(callees[0], EXPECT.hot, 'callees root');
      await shot('sandwich');
      // in the sandwich view a table row picks the function
      await page.click('#table-pane tbody tr[data-name="calc2"] .sym-name');
      await page.waitForFunction(() => window.__ember.state().fn === 'calc2' && window.__ember.ready() &&
        window.__ember.graph('callers').model.names[0] === 'calc2');
      assert(await page.$eval('#table-pane tbody tr[data-name="calc2"]', (tr) => tr.classList.contains('selected')), 'calc2 row selected');
      // and from the flame graph's menu
      await open(page, base, SHOP + '&view=flame');
      const read = (await rects(page, 'read'))[0];
      await page.mouse.click(read.pageX, read.pageY);
      await page.click('.fg-menu button[data-action="sandwich"]');
      await settle(page);
      await page.waitForFunction(() => window.__ember.state().fn === 'read' && window.__ember.graph('callers').model &&
        window.__ember.graph('callers').model.names[0] === 'read');
    },
  },
  {
    name: 'diff between two ranges: the function whose share grew tops the table and is red',
    async fn({ page, base, data, shot }) {
      const q = `${SHOP}&mode=diff&lfrom=${data.A[0]}&luntil=${data.A[1]}&rfrom=${data.B[0]}&runtil=${data.B[1]}`;
      await open(page, base, q);
      await page.waitForSelector('#diff-table tbody tr');
      const first = await page.$eval('#diff-table tbody tr', (tr) => ({ name: tr.dataset.name, cls: tr.querySelector('.change').className, text: tr.querySelector('.change').textContent }));
      eq(first.name, EXPECT.grew, 'top of the diff table');
      assert(first.cls.includes('up') && first.text.startsWith('+'), `change cell ${JSON.stringify(first)}`);
      const r = (await rects(page, EXPECT.grew, 'diff'))[0];
      assert(r, 'calc2 not drawn in the diff flame graph');
      const px = await framePixel(page, r, 'diff');
      assert(px[0] > 150 && px[1] < 90 && px[2] < 90, `calc2 should be red in the diff, pixel ${px}`);
      const shrank = (await rects(page, EXPECT.hot, 'diff'))[0];
      const spx = await framePixel(page, shrank, 'diff');
      assert(spx[1] > spx[0] + 20, `calc3 (share shrank) should be green, pixel ${spx}`);
      // both sides are drawn too
      for (const side of ['left', 'right']) assert((await rects(page, 'calc2', side)).length === 1, `${side} flame graph lacks calc2`);
      await shot('diff');
      await page.check('#cb');
      await settle(page);
      const cb = await framePixel(page, shrank, 'diff');
      assert(cb[2] > cb[1] && cb[2] > cb[0], `colour-blind palette: calc3 should be blue, pixel ${cb}`);
      assert(page.url().includes('cb=1'), 'colour-blind choice in the URL');
      // two label selections instead of two ranges: version 1.2 vs 1.3 over the whole hour
      await open(page, base, `${SHOP}&mode=diff&lfrom=now-1h&luntil=now&rfrom=now-1h&runtil=now&llabels=${encodeURIComponent('version="1.2"')}&rlabels=${encodeURIComponent('version="1.3"')}`);
      await page.waitForSelector('#diff-table tbody tr');
      eq(await page.$eval('#diff-table tbody tr', (tr) => tr.dataset.name), EXPECT.grew, 'top of the diff by labels');
    },
  },
  {
    name: 'URL round-trip: reloading the link gives the same view; back works',
    async fn({ page, base, ctx }) {
      await open(page, base, SHOP + '&view=both');
      await page.click('#views [data-view="flame"]');
      await settle(page);
      await page.click(`#views [data-view="table"]`);
      await page.click('#views [data-view="flame"]');
      await settle(page);
      const run = (await rects(page, 'run'))[0];
      await page.mouse.click(run.pageX, run.pageY);
      await page.click('.fg-menu button[data-action="highlight"]');
      await settle(page);
      const calc = (await rects(page, 'calc1'))[0];
      await page.mouse.click(calc.pageX, calc.pageY);
      await page.click('.fg-menu button[data-action="focus"]');
      await settle(page);
      await page.fill('#labels', 'env="prod"');
      await page.press('#labels', 'Enter');
      await settle(page);
      const link = page.url();
      const st = await page.evaluate(() => window.__ember.state());
      const focused = await page.evaluate(() => window.__ember.focused());
      const p2 = await ctx.newPage();
      try {
        await p2.goto(link);
        await settle(p2);
        eq(await p2.evaluate(() => window.__ember.state()), st, 'state after reload');
        eq(await p2.evaluate(() => window.__ember.focused()), focused, 'focus after reload');
        eq(await p2.evaluate(() => window.__ember.highlighted()), 'run', 'highlight after reload');
        eq(await p2.$eval('#labels', (e) => e.value), 'env="prod"', 'label filter after reload');
        assert(await p2.$eval('#views [data-view="flame"]', (b) => b.classList.contains('on')), 'Flame graph view button on');
      } finally {
        await p2.close();
      }
      await page.goBack();
      await settle(page);
      eq((await page.evaluate(() => window.__ember.state())).labels, '', 'labels after Back');
      await page.goBack();
      await settle(page);
      eq((await page.evaluate(() => window.__ember.state())).view, 'table', 'view after Back');
    },
  },
  {
    name: 'label filter autocompletes names and values; empty and error states say what to do',
    allowErrors: /status of 400|invalid query|regex|\(400\)/,
    async fn({ page, base, shot }) {
      await open(page, base);
      await page.click('#labels');
      await page.keyboard.type('ver');
      await page.waitForSelector('.labels-field .suggest li');
      const names = await page.$$eval('.labels-field .suggest li', (l) => l.map((x) => x.firstChild.textContent));
      eq(names, ['version'], 'name suggestions for "ver"');
      await page.keyboard.press('Tab');
      await page.waitForFunction(() => document.querySelectorAll('.labels-field .suggest li').length >= 2);
      const vals = await page.$$eval('.labels-field .suggest li', (l) => l.map((x) => x.firstChild.textContent));
      eq(vals.slice().sort(), ['1.2', '1.3'], 'value suggestions for version');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      eq(await page.$eval('#labels', (e) => e.value), 'version="1.3"', 'completed filter');
      await page.keyboard.press('Enter');
      await settle(page);
      eq((await page.evaluate(() => window.__ember.state())).labels, 'version="1.3"', 'applied filter');
      // a malformed filter is refused in the browser, a bad regex is reported by the server
      await page.fill('#labels', 'v');
      await page.waitForSelector('.labels-field .suggest li');
      await page.press('#labels', 'Escape');
      await page.press('#labels', 'Enter');
      assert(await page.$eval('#labels', (e) => e.classList.contains('invalid') && !e.validity.valid), 'malformed filter marked invalid');
      eq((await page.evaluate(() => window.__ember.state())).labels, 'version="1.3"', 'state after a malformed filter');
      await page.fill('#labels', 'version=~"("');
      await page.press('#labels', 'Enter');
      await settle(page);
      const err = await page.$eval('#status', (e) => (e.hidden ? '' : e.textContent));
      assert(/rejected the query/.test(err) && /400/.test(err) && /label filter/.test(err), `error state: ${err}`);
      await shot('error');
      await page.fill('#labels', 'version="9.9"');
      await page.press('#labels', 'Enter');
      await settle(page);
      const msg = await page.$eval('#status', (e) => e.textContent);
      assert(/No data for service “shop”/.test(msg) && /agent running/.test(msg) && /README/.test(msg), `empty state: ${msg}`);
      await shot('empty');
    },
  },
  {
    name: 'timeline drag zooms into the time range',
    async fn({ page, base, data }) {
      await open(page, base);
      const box = await page.$eval('#timeline canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; });
      await page.mouse.move(box.x + box.w * 0.5, box.y + 30);
      await page.mouse.down();
      await page.mouse.move(box.x + box.w * 0.7, box.y + 30, { steps: 5 });
      await page.mouse.up();
      await settle(page);
      const st = await page.evaluate(() => window.__ember.state());
      const f = Number(st.from), u = Number(st.until);
      assert(Number.isFinite(f) && Number.isFinite(u) && u > f, `absolute range after drag: ${st.from} → ${st.until}`);
      assert(u - f > 600 && u - f < 1000, `about a fifth of the hour selected, got ${u - f} s`);
      assert(Math.abs(f - (data.now - 1800)) < 120, `selection starts near the middle of the hour: ${f} vs ${data.now - 1800}`);
      await page.goBack();
      await settle(page);
      eq((await page.evaluate(() => window.__ember.state())).from, 'now-1h', 'range after Back');
    },
  },
  {
    name: 'export: pprof that go tool pprof reads, folded text and a PNG',
    async fn({ page, base, tmp, shot }) {
      await open(page, base);
      await page.click('#export-btn');
      await shot('export-menu');
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#exp-pprof')]);
      const file = path.join(tmp, 'export.pb.gz');
      await dl.saveAs(file);
      let out;
      try {
        out = execFileSync('go', ['tool', 'pprof', '-top', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      } catch (e) {
        throw new Error(`go tool pprof -top failed: ${e.stderr || e.message}`);
      }
      assert(out.includes(EXPECT.hot), `go tool pprof -top output lacks ${EXPECT.hot}:\n${out.slice(0, 500)}`);
      const lines = out.split('\n').filter((l) => /^\s+\d/.test(l));
      assert(lines[0] && lines[0].trim().endsWith(EXPECT.hot), `pprof's top line should be ${EXPECT.hot}: ${lines[0]}`);
      await page.click('#export-btn');
      const [dl2] = await Promise.all([page.waitForEvent('download'), page.click('#exp-folded')]);
      const folded = fs.readFileSync(await dl2.path(), 'utf8');
      assert(/main;run;calc3 \d+/.test(folded), `folded export: ${folded.slice(0, 200)}`);
      await page.click('#export-btn');
      const [dl3] = await Promise.all([page.waitForEvent('download'), page.click('#exp-png')]);
      const png = fs.readFileSync(await dl3.path());
      assert(png.length > 1000 && png.slice(1, 4).toString() === 'PNG', `PNG export: ${png.length} bytes`);
      assert(dl3.suggestedFilename().endsWith('.png'), `PNG file name ${dl3.suggestedFilename()}`);
    },
  },
  {
    name: 'views: table, flame graph, narrow window and dark theme render',
    async fn({ page, base, shot }) {
      await open(page, base, SHOP + '&view=table');
      assert(await page.isVisible('#table-pane') && !(await page.isVisible('#flame-pane')), 'table view shows only the table');
      await shot('table');
      await open(page, base, SHOP + '&view=flame');
      assert(await page.isVisible('#flame-pane') && !(await page.isVisible('#table-pane')), 'flame view shows only the flame graph');
      await shot('flame');
      await page.setViewportSize({ width: 760, height: 800 });
      await open(page, base, SHOP + '&view=both');
      const t = await page.$eval('#table-pane', (e) => e.getBoundingClientRect().top);
      const f = await page.$eval('#flame-pane', (e) => e.getBoundingClientRect().top);
      assert(f > t + 50, `narrow window: panes should stack (table top ${t}, flame top ${f})`);
      await shot('both-narrow');
      await page.setViewportSize({ width: 1920, height: 1080 });
      await page.emulateMedia({ colorScheme: 'dark' });
      await open(page, base, SHOP + '&view=both');
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert(/rgb\((\d+), \1, (\d+)\)/.test(bg) && parseInt(bg.slice(4), 10) < 60, `dark background: ${bg}`);
      await shot('both-dark-wide');
    },
  },
];
