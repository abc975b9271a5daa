// app.js - Ember's web UI: query bar, timeline, table / flame graph / sandwich views and the
// comparison (diff) view. All state lives in the URL query string, so a link reproduces the view.

import { getJSON, url } from './lib/api.js';
import { decode, FlameGraph, closeMenu, hideTooltip } from './lib/flamegraph.js';
import { Timeline } from './lib/timeline.js';
import { TopTable, renderDiffTable } from './lib/table.js';
import { LabelInput } from './lib/labelinput.js';
import { diffColor, DIFF_STEPS } from './lib/colors.js';
import {
  fmtValue, typeName, typeOrder, resolveTime, rangeLabel, PRESETS, toLocalInput, escapeHtml,
} from './lib/format.js';

const $ = (id) => document.getElementById(id);

// ---- state <-> URL ----

const DEFAULTS = {
  service: '', type: '', labels: '', from: 'now-1h', until: 'now', view: 'both', search: '', hl: '', focus: '',
  fn: '', mode: 'single', lfrom: '', luntil: '', rfrom: '', runtil: '', llabels: '', rlabels: '', cb: '',
};
const KEYS = Object.keys(DEFAULTS);
const VIEWS = ['table', 'flame', 'both', 'sandwich'];
// Keys whose change needs new data from the server.
const DATA_KEYS = ['service', 'type', 'labels', 'from', 'until', 'mode', 'lfrom', 'luntil', 'rfrom', 'runtil', 'llabels', 'rlabels'];

let state = readURL();

function readURL() {
  const q = new URLSearchParams(location.search);
  const s = { ...DEFAULTS };
  for (const k of KEYS) if (q.has(k)) s[k] = q.get(k);
  if (!VIEWS.includes(s.view)) s.view = DEFAULTS.view;
  if (s.mode !== 'diff') s.mode = 'single';
  return s;
}

function writeURL(push) {
  const q = new URLSearchParams();
  for (const k of KEYS) if (state[k] !== DEFAULTS[k]) q.set(k, state[k]);
  const qs = q.toString();
  const u = location.pathname + (qs ? '?' + qs : '');
  if (u === location.pathname + location.search) return;
  if (push) history.pushState(null, '', u);
  else history.replaceState(null, '', u);
}

// Merges patch into the state, records it in the URL (push: a new history entry) and applies it.
function setState(patch, push = false) {
  const changed = [];
  for (const [k, v] of Object.entries(patch)) {
    if (state[k] !== v) { state[k] = v; changed.push(k); }
  }
  if (!changed.length) return;
  writeURL(push);
  apply(changed);
}

window.addEventListener('popstate', () => {
  const old = state;
  state = readURL();
  apply(KEYS.filter((k) => old[k] !== state[k]));
});

// ---- selectors and queries ----

function quote(v) {
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function cleanLabels(l) {
  return (l || '').trim().replace(/^[{,\s]+|[},\s]+$/g, '');
}

const MATCHER = String.raw`\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + '`[^`]*`' + String.raw`)\s*`;
const LABELS_RE = new RegExp('^(?:' + MATCHER + '(?:,' + MATCHER + ')*)?,?\\s*$');

// Checks a label filter before it is sent; returns "" or what is wrong with it.
function labelsError(text) {
  const l = cleanLabels(text);
  if (!l || LABELS_RE.test(l)) return '';
  return 'Label filter must look like name="value", other=~"regex" (operators =, !=, =~, !~; values in double quotes)';
}

// Applies a label filter typed into input (key: labels, llabels or rlabels) if it is well formed.
function applyLabels(input, key, text) {
  const err = labelsError(text);
  input.setCustomValidity(err);
  input.classList.toggle('invalid', !!err);
  input.title = err;
  if (err) { input.reportValidity(); return; }
  setState(key === 'labels' ? { labels: text, focus: '' } : { [key]: text }, true);
}

function selector(type, service, labels) {
  const parts = [];
  if (service) parts.push('service_name=' + quote(service));
  const l = cleanLabels(labels);
  if (l) parts.push(l);
  return (type || '') + '{' + parts.join(', ') + '}';
}

function mainQuery() {
  return selector(state.type, state.service, state.labels);
}

function sideQuery(side) {
  const l = side === 'left' ? state.llabels : state.rlabels;
  return selector(state.type, state.service, [cleanLabels(state.labels), cleanLabels(l)].filter(Boolean).join(', '));
}

function stepFor(fromS, untilS) {
  const span = Math.max(1, untilS - fromS);
  const raw = Math.ceil(span / 240);
  const nice = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  for (const n of nice) if (n >= raw) return n;
  return raw;
}

// ---- components ----

const graphs = {}; // name -> FlameGraph
let table = null;
let timeline = null;
const data = { single: null, sandwich: null, diff: null };
let gen = 0;
let busy = 0;
let loadsDone = 0;
const timings = { decodeMs: 0, firstDrawMs: 0, lastDrawMs: 0 };
let pickSide = 'left';

function graph(name, container, opts = {}) {
  if (!graphs[name]) {
    graphs[name] = new FlameGraph(container, {
      title: opts.title || name,
      inverted: !!opts.inverted,
      onAction: (act, fn) => {
        if (act === 'sandwich') setState({ fn, view: 'sandwich', mode: 'single' }, true);
        else if (act === 'highlight') setState({ hl: fn || '' });
      },
      onFocus: (k) => {
        if (name === 'flame') setState({ focus: k >= 0 ? graphs.flame.pathOf(k) : '' });
        updatePills();
      },
    });
  }
  return graphs[name];
}

function visible(el) {
  return el && el.offsetParent !== null && el.clientWidth > 0;
}

function drawIfVisible(g) {
  if (g && g.model && visible(g.container)) return g.draw();
  return 0;
}

function drawAll() {
  for (const g of Object.values(graphs)) drawIfVisible(g);
}

// ---- status, loading, errors ----

function setBusy(on) {
  busy += on ? 1 : -1;
  $('progress').hidden = busy <= 0;
  document.body.classList.toggle('loading', busy > 0);
}

function rangeText() {
  const l = rangeLabel(state.from, state.until);
  return l.startsWith('Last') ? 'in the ' + l.toLowerCase().replace(/^last 1 /, 'last ') : 'between ' + l;
}

// Shows a message instead of the views. kind: "empty" | "error".
function showStatus(kind, title, body) {
  const el = $('status');
  el.className = 'status is-' + kind;
  $('summary').textContent = '';
  el.innerHTML = `<div class="status-box"><div class="status-icon">${kind === 'error' ? '!' : '∅'}</div><div><h2>${escapeHtml(title)}</h2>${body}</div></div>`;
  el.hidden = false;
  $('single').hidden = true;
  $('diff').hidden = true;
}

function hideStatus() {
  $('status').hidden = true;
  $('single').hidden = state.mode === 'diff';
  $('diff').hidden = state.mode !== 'diff';
}

const HELP = `<p class="hint">To send profiles: run <code>sudo ember agent --server http://${escapeHtml(location.host)}</code> on the host,
start a program under <code>ember exec --service NAME -- PROGRAM</code>, point a Pyroscope SDK at
<code>http://${escapeHtml(location.host)}</code>, or upload a file with <code>ember push</code>. See the README, section “Sending profiles”.</p>`;

function showError(e) {
  console.error(e);
  const st = e.status;
  const title = st === 0 ? 'Cannot reach the Ember server' : st >= 400 && st < 500 ? 'The server rejected the query' : st >= 500 ? 'The server failed to answer' : 'Something went wrong';
  showStatus('error', title, `<p>${escapeHtml(e.message || String(e))}</p>
    <p class="hint">Check the label filter and the time range, then press <b>Refresh</b>. If the server is down, start it with <code>ember server</code>.</p>`);
}

// ---- loading ----

async function loadAll() {
  const g = ++gen;
  setBusy(true);
  try {
    await loadServices(g);
    if (g !== gen) return;
    if (!state.service) {
      showStatus('empty', `No profiles yet ${rangeText()}`, `<p>Ember has not received any profile ${escapeHtml(rangeText())}. Try a longer time range.</p>${HELP}`);
      return;
    }
    await loadTypes(g);
    if (g !== gen) return;
    if (!state.type) {
      showStatus('empty', `No data for service “${state.service}” ${rangeText()}`,
        `<p>Is the agent running? Try a longer time range, pick another service, or check the agent's log.</p>${HELP}`);
      return;
    }
    if (state.mode === 'diff') await loadDiff(g);
    else await loadSingle(g);
  } catch (e) {
    if (g === gen && e.name !== 'AbortError') showError(e);
  } finally {
    setBusy(false);
    if (g === gen) loadsDone++;
  }
}

function timeParams() {
  return { from: state.from, until: state.until };
}

async function loadServices(g) {
  const r = await getJSON('/api/v1/label/service_name/values', timeParams());
  if (g !== gen) return;
  const vals = (r.values || []).slice().sort();
  if (!state.service && vals.length) {
    state.service = vals.find((v) => v !== 'ember-server') || vals[0];
    writeURL(false);
  }
  const sel = $('service');
  const list = vals.includes(state.service) || !state.service ? vals : [state.service, ...vals];
  sel.innerHTML = list.map((v) => `<option value="${escapeHtml(v)}">${escapeHtml(v)}</option>`).join('') ||
    '<option value="">(no services)</option>';
  sel.value = state.service;
}

async function loadTypes(g) {
  const r = await getJSON('/api/v1/profile-types', { query: selector('', state.service, ''), ...timeParams() });
  if (g !== gen) return;
  const types = (r.types || []).map((t) => t.id || [t.name, t.sample_type, t.sample_unit, t.period_type, t.period_unit].join(':'));
  types.sort((a, b) => typeOrder(a) - typeOrder(b) || typeName(a).localeCompare(typeName(b)));
  const sel = $('ptype');
  if (!types.includes(state.type)) {
    const t = types[0] || '';
    if (state.type && types.length) console.info(`profile type ${state.type} not in ${state.service}; using ${t}`);
    state.type = types.length ? t : state.type;
    writeURL(false);
    if (!types.length) state.type = '';
  }
  sel.innerHTML = types.map((t) => `<option value="${escapeHtml(t)}" title="${escapeHtml(t)}">${escapeHtml(typeName(t))}</option>`).join('');
  sel.value = state.type;
}

function setExportLinks(query, from, until) {
  $('exp-pprof').href = url('/api/v1/export', { format: 'pprof', query, from, until });
  $('exp-folded').href = url('/api/v1/export', { format: 'folded', query, from, until });
  const base = (state.service || 'profile').replace(/[^a-zA-Z0-9_.-]+/g, '_') + '-' + (typeName(state.type).replace(/\W+/g, '_').toLowerCase());
  $('exp-pprof').download = base + '.pb.gz';
  $('exp-folded').download = base + '.folded.txt';
}

async function loadTimeline(g, query) {
  const now = Date.now() / 1000;
  const f = resolveTime(state.from, now), u = resolveTime(state.until, now);
  if (!Number.isFinite(f) || !Number.isFinite(u) || u <= f) throw new Error(`Invalid time range “${state.from}” → “${state.until}”: pick a range with from before until.`);
  const step = stepFor(f, u);
  const tl = await getJSON('/api/v1/timeline', { query, from: state.from, until: state.until, step: step + 's' });
  if (g !== gen) return null;
  if (!timeline) timeline = new Timeline($('timeline'), { onSelect: onTimelineSelect });
  timeline.setData(tl, f, u);
  return tl;
}

async function loadSingle(g) {
  const query = mainQuery();
  const p = { query, ...timeParams() };
  setExportLinks(query, state.from, state.until);
  const [, fg, top] = await Promise.all([
    loadTimeline(g, query),
    getJSON('/api/v1/flamegraph', { ...p, max_nodes: 16384 }),
    getJSON('/api/v1/top', { ...p, sort: 'self', limit: 5000 }),
  ]);
  if (g !== gen) return;
  timeline.setMarks([]);
  const fb = fg.flamebearer || {};
  const total = fg.total ?? fb.numTicks ?? 0;
  if (!total || !(fb.levels && fb.levels.length)) {
    data.single = null;
    showStatus('empty', `No data for service “${state.service}” (${typeName(state.type)}) ${rangeText()}`,
      `<p>Is the agent running? ${cleanLabels(state.labels) ? 'The label filter <code>' + escapeHtml(cleanLabels(state.labels)) + '</code> may exclude everything. ' : ''}Try a longer time range or another profile type.</p>${HELP}`);
    return;
  }
  hideStatus();
  const t0 = performance.now();
  const model = decode(fb, fg.files);
  timings.decodeMs = performance.now() - t0;
  const unit = fg.unit || (fg.metadata && fg.metadata.units) || '';
  data.single = { fg, top, model, unit, total };
  const fl = graph('flame', $('flame'), { title: 'Flame graph' });
  fl.opts.rootTotal = total;
  fl.setData(model, unit);
  fl.setSearch(state.search);
  fl.setHighlight(state.hl);
  if (!table) {
    table = new TopTable($('table-pane'), {
      // in the sandwich view a row picks the sandwich's function; elsewhere it highlights the function
      onRowClick: (name) => {
        if (state.view === 'sandwich') { if (name) setState({ fn: name }, true); else table.setSelected(state.fn); }
        else setState({ hl: name || '' });
      },
      onSandwich: (fn) => setState({ fn, view: 'sandwich' }, true),
    });
  }
  table.filter = state.search;
  table.setData(top.functions, top.total || total, top.unit || unit);
  table.setSelected(state.view === 'sandwich' ? state.fn : state.hl);
  $('summary').textContent = `${fmtValue(total, unit)} total` + (fg.profiles ? ` · ${fg.profiles} profile${fg.profiles === 1 ? '' : 's'}` : '');
  document.title = `${state.service} · ${typeName(state.type)} — Ember`;
  layout();
  const k = state.focus ? fl.nodeByPath(state.focus) : -1;
  fl.focus = k;
  if (state.focus && k < 0) state.focus = '';
  const t1 = performance.now();
  drawIfVisible(fl);
  timings.firstDrawMs = performance.now() - t1;
  updatePills();
  if (state.view === 'sandwich') await loadSandwich(g);
}

async function loadSandwich(g = gen) {
  const pane = $('sandwich-pane');
  if (!data.single) return;
  let fn = state.fn;
  if (!fn) {
    const first = table && table.sorted()[0];
    if (!first) return;
    fn = first.name;
    state.fn = fn;
    writeURL(false);
    table.setSelected(fn);
  }
  $('sw-fn').textContent = fn;
  setBusy(true);
  try {
    const r = await getJSON('/api/v1/sandwich', { query: mainQuery(), ...timeParams(), function: fn });
    if (g !== gen || fn !== state.fn) return;
    const unit = r.unit || data.single.unit;
    const empty = $('sw-empty');
    if (!r.callers || !r.callers.levels || !r.callers.levels.length) {
      empty.hidden = false;
      empty.innerHTML = `<p>“${escapeHtml(fn)}” does not occur in this profile. Pick a function in the table (⇅ button) or from the flame graph's menu.</p>`;
      pane.classList.add('is-empty');
      return;
    }
    empty.hidden = true;
    pane.classList.remove('is-empty');
    const tot = r.total || data.single.total;
    $('sw-stats').textContent = `self ${fmtValue(r.self ?? 0, unit)} · total ${fmtValue(r.function_total ?? 0, unit)} of ${fmtValue(tot, unit)}`;
    const ca = graph('callers', $('sw-callers'), { inverted: true, title: 'Callers' });
    const ce = graph('callees', $('sw-callees'), { title: 'Callees' });
    ca.opts.rootTotal = tot;
    ce.opts.rootTotal = tot;
    ca.setData(decode(r.callers, r.callers_files || r.callers.files || r.files), unit);
    ce.setData(decode(r.callees, r.callees_files || r.callees.files || r.files), unit);
    for (const x of [ca, ce]) { x.setSearch(state.search); x.setHighlight(state.hl); drawIfVisible(x); }
    data.sandwich = r;
  } catch (e) {
    if (e.name !== 'AbortError') showError(e);
  } finally {
    setBusy(false);
  }
}

function defaultDiffRanges() {
  const now = Date.now() / 1000;
  const f = resolveTime(state.from, now), u = resolveTime(state.until, now);
  const mid = Math.round((f + u) / 2);
  return { lfrom: String(Math.floor(f)), luntil: String(mid), rfrom: String(mid), runtil: String(Math.ceil(u)) };
}

async function loadDiff(g) {
  if (!state.lfrom || !state.luntil || !state.rfrom || !state.runtil) {
    Object.assign(state, defaultDiffRanges());
    writeURL(false);
  }
  const lq = sideQuery('left'), rq = sideQuery('right');
  const L = { query: lq, from: state.lfrom, until: state.luntil };
  const R = { query: rq, from: state.rfrom, until: state.runtil };
  setExportLinks(rq, state.rfrom, state.runtil);
  updateDiffSides();
  const [, d, lf, rf] = await Promise.all([
    loadTimeline(g, mainQuery()),
    getJSON('/api/v1/diff', { left_query: lq, left_from: L.from, left_until: L.until, right_query: rq, right_from: R.from, right_until: R.until }),
    getJSON('/api/v1/flamegraph', L),
    getJSON('/api/v1/flamegraph', R),
  ]);
  if (g !== gen) return;
  timeline.setMarks(diffMarks());
  const lt = d.leftTicks || 0, rt = d.rightTicks || 0;
  if (!lt && !rt) {
    showStatus('empty', `No data to compare for “${state.service}”`, `<p>Neither the baseline nor the comparison range has samples. Drag on the timeline to choose ranges that contain data.</p>${HELP}`);
    return;
  }
  hideStatus();
  const unit = (d.metadata && d.metadata.units) || d.unit || lf.unit || '';
  const t0 = performance.now();
  const dm = decode(d.flamebearer, d.files, { diff: true, leftTicks: lt, rightTicks: rt });
  timings.decodeMs = performance.now() - t0;
  data.diff = { d, lf, rf, unit, model: dm };
  const df = graph('diff', $('diff-flame'), { title: 'Diff flame graph' });
  df.setColourBlind(state.cb === '1');
  df.setData(dm, unit);
  df.setSearch(state.search);
  df.setHighlight(state.hl);
  renderDiffTable($('diff-table'), d.functions, lt, rt, unit, state.cb === '1', (name) => setState({ hl: state.hl === name ? '' : name }));
  markDiffRow();
  for (const [name, resp, el, sum] of [['left', lf, 'left-flame', 'left-sum'], ['right', rf, 'right-flame', 'right-sum']]) {
    const x = graph(name, $(el), { title: name === 'left' ? 'Baseline' : 'Comparison' });
    const fb = resp.flamebearer || { names: [], levels: [] };
    x.opts.rootTotal = resp.total;
    x.setData(decode(fb, resp.files), resp.unit || unit);
    x.setSearch(state.search);
    x.setHighlight(state.hl);
    $(sum).textContent = resp.total ? fmtValue(resp.total, resp.unit || unit) + (resp.profiles ? ` · ${resp.profiles} profiles` : '') : 'no data';
  }
  $('summary').textContent = '';
  document.title = `${state.service} · ${typeName(state.type)} · compare — Ember`;
  layout();
  drawAll();
  updateLegend();
}

function diffMarks() {
  const n = (s) => resolveTime(s);
  return [{ from: n(state.lfrom), until: n(state.luntil), cls: 'left' }, { from: n(state.rfrom), until: n(state.runtil), cls: 'right' }];
}

function updateDiffSides() {
  $('left-range').textContent = rangeLabel(state.lfrom, state.luntil);
  $('right-range').textContent = rangeLabel(state.rfrom, state.runtil);
  $('left-labels').value = state.llabels;
  $('right-labels').value = state.rlabels;
  $('pick-left').classList.toggle('on', pickSide === 'left');
  $('pick-right').classList.toggle('on', pickSide === 'right');
}

function updateLegend() {
  const cb = state.cb === '1';
  const stops = [];
  for (let b = -DIFF_STEPS; b <= DIFF_STEPS; b += 2) stops.push(diffColor(b, cb));
  $('legend-bar').style.background = `linear-gradient(90deg, ${stops.join(', ')})`;
}

function markDiffRow() {
  for (const tr of document.querySelectorAll('#diff-table tbody tr')) tr.classList.toggle('selected', tr.dataset.name === state.hl);
}

function onTimelineSelect(a, b) {
  if (state.mode === 'diff') {
    if (pickSide === 'left') { pickSide = 'right'; setState({ lfrom: String(a), luntil: String(b) }, true); }
    else { pickSide = 'left'; setState({ rfrom: String(a), runtil: String(b) }, true); }
    updateDiffSides();
  } else {
    setState({ from: String(a), until: String(b), focus: '' }, true);
  }
}

// ---- applying state changes ----

function apply(changed) {
  const has = (k) => changed.includes(k);
  syncControls();
  if (changed.some((k) => DATA_KEYS.includes(k))) {
    if (has('service') || has('type') || has('labels') || has('from') || has('until')) {
      // a focus path from another profile does not apply
    }
    loadAll();
    return;
  }
  if ((has('view') || has('fn')) && table) table.setSelected(state.view === 'sandwich' ? state.fn : state.hl);
  if (has('view')) {
    layout();
    if (state.view === 'sandwich') loadSandwich();
  } else if (has('fn') && state.view === 'sandwich') loadSandwich();
  if (has('search')) {
    for (const g of Object.values(graphs)) g.setSearch(state.search);
    if (table) table.setFilter(state.search);
    drawAll();
  }
  if (has('hl')) {
    for (const g of Object.values(graphs)) g.setHighlight(state.hl);
    if (table && state.view !== 'sandwich') table.setSelected(state.hl);
    markDiffRow();
    drawAll();
  }
  if (has('focus') && graphs.flame && graphs.flame.model) {
    const k = state.focus ? graphs.flame.nodeByPath(state.focus) : -1;
    if (k !== graphs.flame.focus) { graphs.flame.focus = k; drawIfVisible(graphs.flame); }
  }
  if (has('cb') && data.diff) {
    graphs.diff.setColourBlind(state.cb === '1');
    renderDiffTable($('diff-table'), data.diff.d.functions, data.diff.d.leftTicks, data.diff.d.rightTicks, data.diff.unit, state.cb === '1',
      (name) => setState({ hl: state.hl === name ? '' : name }));
    markDiffRow();
    updateLegend();
    drawAll();
  }
  updatePills();
}

function layout() {
  const single = $('single');
  for (const v of VIEWS) single.classList.toggle('view-' + v, state.view === v);
  const diff = state.mode === 'diff';
  if ($('status').hidden) {
    single.hidden = diff;
    $('diff').hidden = !diff;
  }
  $('views').hidden = diff;
  $('cb-toggle').hidden = !diff;
  $('diff-sides').hidden = !diff;
  document.body.classList.toggle('mode-diff', diff);
  for (const b of document.querySelectorAll('#views [data-view]')) {
    b.classList.toggle('on', b.dataset.view === state.view);
    b.setAttribute('aria-pressed', b.dataset.view === state.view);
  }
  for (const b of document.querySelectorAll('.modes [data-mode]')) {
    b.classList.toggle('on', b.dataset.mode === state.mode);
    b.setAttribute('aria-pressed', b.dataset.mode === state.mode);
  }
  requestAnimationFrame(drawAll);
}

function syncControls() {
  if ($('service').value !== state.service && state.service) $('service').value = state.service;
  if (state.type && $('ptype').value !== state.type) $('ptype').value = state.type;
  if (document.activeElement !== $('labels')) $('labels').value = state.labels;
  if (document.activeElement !== $('search')) $('search').value = state.search;
  $('range-label').textContent = rangeLabel(state.from, state.until);
  $('cb').checked = state.cb === '1';
  layout();
}

function updatePills() {
  const fl = graphs.flame;
  const focused = fl && fl.model && fl.focus >= 0;
  const fp = $('focus-pill');
  if (focused && state.mode !== 'diff') {
    fp.hidden = false;
    fp.innerHTML = `Focus: <span class="mono">${escapeHtml(fl.model.names[fl.model.nameIdx[fl.focus]])}</span><button type="button" aria-label="Reset zoom" data-clear="focus">×</button>`;
  } else fp.hidden = true;
  const anyFocus = Object.values(graphs).some((g) => g.model && g.focus >= 0);
  $('reset-zoom').disabled = !anyFocus;
  const hp = $('hl-pill');
  if (state.hl) {
    hp.hidden = false;
    hp.innerHTML = `Highlight: <span class="mono">${escapeHtml(state.hl)}</span><button type="button" aria-label="Clear highlight" data-clear="hl">×</button>`;
  } else hp.hidden = true;
}

function resetZoom() {
  for (const g of Object.values(graphs)) if (g.model && g.focus >= 0) { g.focus = -1; drawIfVisible(g); }
  setState({ focus: '' });
  updatePills();
}

// ---- wiring ----

function initControls() {
  $('service').addEventListener('change', (e) => setState({ service: e.target.value, type: '', focus: '', hl: '', fn: '' }, true));
  $('ptype').addEventListener('change', (e) => setState({ type: e.target.value, focus: '', fn: state.fn }, true));
  new LabelInput($('labels'), {
    getNames: () => cachedNames(),
    getValues: (n) => cachedValues(n),
    onApply: (text) => applyLabels($('labels'), 'labels', text),
  });
  for (const [id, key] of [['left-labels', 'llabels'], ['right-labels', 'rlabels']]) {
    new LabelInput($(id), { getNames: () => cachedNames(), getValues: (n) => cachedValues(n), onApply: (text) => applyLabels($(id), key, text) });
  }
  for (const id of ['labels', 'left-labels', 'right-labels']) {
    $(id).addEventListener('input', (e) => { e.target.setCustomValidity(''); e.target.classList.remove('invalid'); });
  }
  $('refresh').addEventListener('click', () => { labelCache.clear(); loadAll(); });
  // time range popover
  $('presets').innerHTML = PRESETS.map(([v, l]) => `<button type="button" data-from="${v}">${l}</button>`).join('');
  $('presets').addEventListener('click', (e) => {
    const b = e.target.closest('[data-from]');
    if (!b) return;
    $('range-pop').hidden = true;
    setState({ from: b.dataset.from, until: 'now', focus: '', lfrom: '', luntil: '', rfrom: '', runtil: '' }, true);
  });
  $('range-btn').addEventListener('click', () => {
    const pop = $('range-pop');
    pop.hidden = !pop.hidden;
    if (!pop.hidden) {
      const now = Date.now() / 1000;
      $('abs-from').value = toLocalInput(resolveTime(state.from, now));
      $('abs-until').value = toLocalInput(resolveTime(state.until, now));
      for (const b of pop.querySelectorAll('[data-from]')) b.classList.toggle('on', state.until === 'now' && b.dataset.from === state.from);
    }
  });
  $('abs-apply').addEventListener('click', () => {
    const f = Date.parse($('abs-from').value) / 1000, u = Date.parse($('abs-until').value) / 1000;
    if (!Number.isFinite(f) || !Number.isFinite(u) || u <= f) {
      $('abs-until').setCustomValidity('Until must be after From');
      $('abs-until').reportValidity();
      return;
    }
    $('abs-until').setCustomValidity('');
    $('range-pop').hidden = true;
    setState({ from: String(Math.floor(f)), until: String(Math.ceil(u)), focus: '', lfrom: '', luntil: '', rfrom: '', runtil: '' }, true);
  });
  // views and modes
  $('views').addEventListener('click', (e) => {
    const b = e.target.closest('[data-view]');
    if (b) setState({ view: b.dataset.view }, true);
  });
  document.querySelector('.modes').addEventListener('click', (e) => {
    const b = e.target.closest('[data-mode]');
    if (b) setState({ mode: b.dataset.mode }, true);
  });
  $('pick-left').addEventListener('click', () => { pickSide = 'left'; updateDiffSides(); });
  $('pick-right').addEventListener('click', () => { pickSide = 'right'; updateDiffSides(); });
  $('cb').addEventListener('change', (e) => setState({ cb: e.target.checked ? '1' : '' }));
  // search (debounced)
  let st = 0;
  $('search').addEventListener('input', (e) => {
    clearTimeout(st);
    const v = e.target.value;
    st = setTimeout(() => setState({ search: v }), 150);
  });
  $('search').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.target.value = ''; setState({ search: '' }); e.target.blur(); e.stopPropagation(); }
  });
  $('reset-zoom').addEventListener('click', resetZoom);
  document.querySelector('.toolbar').addEventListener('click', (e) => {
    const c = e.target.closest('[data-clear]');
    if (!c) return;
    if (c.dataset.clear === 'focus') resetZoom();
    else setState({ hl: '' });
  });
  // export
  $('export-btn').addEventListener('click', () => { $('export-menu').hidden = !$('export-menu').hidden; });
  $('export-menu').addEventListener('click', () => setTimeout(() => { $('export-menu').hidden = true; }, 0));
  $('exp-png').addEventListener('click', exportPNG);
  document.addEventListener('mousedown', (e) => {
    if (!e.target.closest('.export')) $('export-menu').hidden = true;
    if (!e.target.closest('.range-field')) $('range-pop').hidden = true;
  });
  // keyboard
  document.addEventListener('keydown', (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      $('search').focus();
      $('search').select();
    } else if (e.key === 'Escape') {
      const hadPopup = !$('export-menu').hidden || !$('range-pop').hidden || document.querySelector('.fg-menu');
      $('export-menu').hidden = true;
      $('range-pop').hidden = true;
      closeMenu();
      hideTooltip();
      if (!hadPopup) resetZoom();
    }
  });
}

async function exportPNG() {
  const g = state.mode === 'diff' ? graphs.diff : state.view === 'sandwich' ? graphs.callees : graphs.flame;
  if (!g || !g.model) return;
  if (!visible(g.container)) setState({ view: 'flame' }, true);
  const blob = await g.toPNG();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = ($('exp-pprof').download || 'profile.pb.gz').replace(/\.pb\.gz$/, '') + '.png';
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

const labelCache = new Map();
function cachedNames() {
  const key = 'names|' + state.service;
  if (!labelCache.has(key)) {
    labelCache.set(key, getJSON('/api/v1/labels', { query: selector('', state.service, ''), ...timeParams() })
      .then((r) => (r.names || []).filter((n) => n !== 'service_name'))
      .catch((e) => { labelCache.delete(key); throw e; }));
  }
  return labelCache.get(key);
}
function cachedValues(name) {
  const key = 'values|' + state.service + '|' + name;
  if (!labelCache.has(key)) {
    labelCache.set(key, getJSON('/api/v1/label/' + encodeURIComponent(name) + '/values', { query: selector('', state.service, ''), ...timeParams() })
      .then((r) => r.values || [])
      .catch((e) => { labelCache.delete(key); throw e; }));
  }
  return labelCache.get(key);
}

// ---- test hook ----

function canvasOf(which) {
  const g = graphs[which || 'flame'];
  return g ? g.canvas : null;
}

window.__ember = {
  ready: () => busy <= 0 && loadsDone > 0,
  loads: () => loadsDone,
  state: () => ({ ...state }),
  highlighted: () => state.hl || null,
  focused: (which = 'flame') => {
    const g = graphs[which];
    if (!g || !g.model || g.focus < 0) return null;
    return { name: g.model.names[g.model.nameIdx[g.focus]], path: g.pathOf(g.focus) };
  },
  // Frames named name as drawn: canvas-relative CSS px plus page coordinates of their centre.
  nodeRects: (name, which = 'flame') => {
    const g = graphs[which];
    if (!g) return [];
    const r = g.canvas.getBoundingClientRect();
    return g.nodeRects(name).map((n) => ({ ...n, pageX: r.left + n.x + n.w / 2, pageY: r.top + n.y + n.h / 2 }));
  },
  // RGBA of the canvas pixel at CSS coordinates (x, y) relative to the canvas.
  pixel: (x, y, which = 'flame') => {
    const c = canvasOf(which);
    if (!c) return null;
    const dpr = window.devicePixelRatio || 1;
    return Array.from(c.getContext('2d').getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data);
  },
  graph: (which = 'flame') => graphs[which] || null,
  names: (which = 'flame') => (graphs[which] && graphs[which].model ? graphs[which].model.names.slice() : []),
  timings,
  redraw: (which = 'flame') => (graphs[which] ? graphs[which].draw() : -1),
};

initControls();
syncControls();
loadAll();
