// flamegraph.js - decodes flamebearer levels into typed arrays and draws them on a <canvas>:
// icicle layout (root on top; inverted for sandwich callers), 22 px rows, package or diff colours,
// focus/zoom, search dimming, highlight of one function, hover tooltip and a click menu.

import { SHADES, OTHER_COLOR, packageColorIndex, diffPercent, diffBucket, diffColor, DIFF_STEPS } from './colors.js';
import { fmtValue, fmtPct, fmtPoints, escapeHtml } from './format.js';

export const ROW = 22;
const FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';
const MIN_LABEL_PX = 20;
const MAX_CANVAS_PX = 30000;

// Colour keys of the draw buckets.
const K_OTHER = SHADES.length; // 72
const K_DIFF0 = K_OTHER + 1 + DIFF_STEPS; // diff bucket b -> K_DIFF0 + b
const K_DIM = K_DIFF0 + DIFF_STEPS + 1;
const K_ANCESTOR = K_DIM + 1;
const N_KEYS = K_ANCESTOR + 1;

/*
 * Decodes a flamebearer ({names, levels, numTicks}) into a model of typed arrays, nodes ordered by
 * level then x. Single runs are [x_delta, total, self, name]; diff runs (opts.diff) are
 * [lx, ltotal, lself, rx, rtotal, rself, name] with leftTicks/rightTicks in opts. x and w are
 * normalised so the root spans [0, 1]; in a diff both sides count by share of their own total.
 * Throws an Error naming the level and run when the encoding is inconsistent.
 */
export function decode(fb, files, opts = {}) {
  const diff = !!opts.diff;
  const step = diff ? 7 : 4;
  const names = fb.names || [];
  const levels = fb.levels || [];
  let n = 0;
  for (let d = 0; d < levels.length; d++) {
    if (levels[d].length % step) throw new Error(`flamegraph level ${d}: length ${levels[d].length} is not a multiple of ${step}`);
    n += levels[d].length / step;
  }
  const m = {
    n, names, files: files || [], diff, depth: levels.length,
    nameIdx: new Int32Array(n), level: new Int32Array(n), parent: new Int32Array(n),
    x: new Float64Array(n), w: new Float64Array(n), total: new Float64Array(n), self: new Float64Array(n),
    levelStart: new Int32Array(levels.length + 1), numTicks: fb.numTicks || 0,
    lt: null, ls: null, rt: null, rs: null, leftTicks: 0, rightTicks: 0, colorKey: new Uint8Array(n),
    maxSelf: fb.maxSelf || 0,
  };
  const rawX = new Float64Array(n); // combined raw x, for parent lookup
  if (diff) {
    m.lt = new Float64Array(n); m.ls = new Float64Array(n); m.rt = new Float64Array(n); m.rs = new Float64Array(n);
    decodeDiff(m, levels, rawX, opts);
  } else {
    decodeSingle(m, levels, rawX);
  }
  // colours: diff buckets now; package colours lazily when a node is first drawn (colourKeyOf)
  m.colorKey.fill(255);
  m.nameKey = new Int16Array(names.length).fill(-1);
  if (diff) {
    for (let j = 0; j < n; j++) {
      m.colorKey[j] = K_DIFF0 + diffBucket(diffPercent(m.lt[j], m.leftTicks, m.rt[j], m.rightTicks));
    }
  }
  return m;
}

// Colour key of node k: the palette index of its package, or the "other" grey.
function colourKeyOf(m, k) {
  let c = m.colorKey[k];
  if (c !== 255) return c;
  const ni = m.nameIdx[k];
  c = m.nameKey[ni];
  if (c < 0) {
    const nm = m.names[ni];
    c = nm === 'other' ? K_OTHER : packageColorIndex(nm, m.files[ni] || '');
    m.nameKey[ni] = c;
  }
  m.colorKey[k] = c;
  return c;
}

// Single runs [x_delta, total, self, name]: one tight pass (x normalised by the root's total).
function decodeSingle(m, levels, rawX) {
  const { x, w, total, self, nameIdx, level, parent, levelStart } = m;
  const nNames = m.names.length;
  let root = 0;
  if (levels.length) for (let i = 1; i < levels[0].length; i += 4) root += levels[0][i];
  const tot = root || m.numTicks || 1;
  if (!m.numTicks) m.numTicks = root;
  const inv = 1 / tot;
  let k = 0;
  for (let d = 0; d < levels.length; d++) {
    const lev = levels[d];
    levelStart[d] = k;
    let prev = 0;
    let p = d > 0 ? levelStart[d - 1] : 0;
    const pLast = k - 1;
    for (let i = 0; i < lev.length; i += 4, k++) {
      const X = lev[i] + prev, T = lev[i + 1], nm = lev[i + 3];
      prev = X + T;
      if (!(nm >= 0 && nm < nNames)) throw new Error(`flamegraph level ${d}, run ${i / 4}: name index ${nm} outside names (${nNames})`);
      rawX[k] = X; x[k] = X * inv; w[k] = T * inv; total[k] = T; self[k] = lev[i + 2]; nameIdx[k] = nm; level[k] = d;
      if (d === 0) { parent[k] = -1; continue; }
      while (p < pLast && X >= rawX[p] + total[p]) p++;
      parent[k] = p;
    }
  }
  levelStart[levels.length] = k;
}

// Diff runs [lx, ltotal, lself, rx, rtotal, rself, name]; x and w by share of each side's total.
function decodeDiff(m, levels, rawX, opts) {
  const n = m.n;
  let k = 0;
  for (let d = 0; d < levels.length; d++) {
    const lev = levels[d];
    m.levelStart[d] = k;
    let prevL = 0, prevR = 0;
    let p = d > 0 ? m.levelStart[d - 1] : 0;
    const pEnd = k;
    for (let i = 0; i < lev.length; i += 7, k++) {
      const lx = lev[i] + prevL, lt = lev[i + 1], ls = lev[i + 2];
      const rx = lev[i + 3] + prevR, rt = lev[i + 4], rs = lev[i + 5];
      const name = lev[i + 6];
      prevL = lx + lt; prevR = rx + rt;
      if (!(name >= 0 && name < m.names.length)) throw new Error(`flamegraph level ${d}, run ${i / 7}: name index ${name} outside names (${m.names.length})`);
      m.lt[k] = lt; m.ls[k] = ls; m.rt[k] = rt; m.rs[k] = rs;
      const X = lx + rx;
      m.x[k] = lx; m.w[k] = rx; // raw left x / right x until normalised below
      m.nameIdx[k] = name; m.level[k] = d; m.total[k] = lt + rt; m.self[k] = ls + rs; rawX[k] = X;
      if (d === 0) { m.parent[k] = -1; continue; }
      while (p < pEnd - 1 && X >= rawX[p] + m.total[p]) p++;
      m.parent[k] = p;
    }
  }
  m.levelStart[levels.length] = k;
  let LT = opts.leftTicks, RT = opts.rightTicks;
  if (!(LT >= 0) || !(RT >= 0)) { LT = 0; RT = 0; for (let r = 0; r < m.levelStart[1]; r++) { LT += m.lt[r]; RT += m.rt[r]; } }
  m.leftTicks = LT; m.rightTicks = RT;
  const kl = LT > 0 ? 1 / LT : 0, kr = RT > 0 ? 1 / RT : 0;
  const norm = (LT > 0 ? 1 : 0) + (RT > 0 ? 1 : 0) || 1;
  for (let j = 0; j < n; j++) {
    const lx = m.x[j], rx = m.w[j];
    m.x[j] = (lx * kl + rx * kr) / norm;
    m.w[j] = (m.lt[j] * kl + m.rt[j] * kr) / norm;
  }
  m.numTicks = LT + RT;
}

// Index of the first node in [lo, hi) whose right edge is beyond vx (nodes sorted by x).
function firstVisible(m, lo, hi, vx) {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (m.x[mid] + m.w[mid] <= vx) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Index of the first node in [k, hi) whose right edge is beyond xlim: galloping search from k, so
// skipping a run of sub-pixel nodes costs O(log run) (right edges grow along a level).
function skipTo(m, k, hi, xlim) {
  const mx = m.x, mw = m.w;
  let step = 1, lo = k;
  let probe = k;
  while (probe < hi && mx[probe] + mw[probe] <= xlim) { lo = probe + 1; probe = k + step; step *= 2; }
  if (probe > hi) probe = hi;
  let h = probe;
  while (lo < h) {
    const mid = (lo + h) >> 1;
    if (mx[mid] + mw[mid] <= xlim) lo = mid + 1;
    else h = mid;
  }
  return lo;
}

// Fits a frame name into maxChars, keeping its end (the function, not its package): the full name,
// else without the import path ("store.(*DB).Query"), else the last component ("Query"), else
// "…" and the tail.
export function truncateLabel(name, maxChars) {
  if (name.length <= maxChars) return name;
  if (maxChars < 3) return '';
  const paren = name.indexOf('(');
  const head = paren > 0 ? name.slice(0, paren) : name;
  const slash = head.lastIndexOf('/');
  if (slash >= 0 && slash < name.length - 1) {
    const short = name.slice(slash + 1);
    if (short.length <= maxChars) return short;
  }
  const m = /(?:::|\.)([^.:/()]+(?:\([^()]*\))?)$/.exec(name);
  if (m && m[1].length <= maxChars && m[1].length < name.length) return m[1];
  return '…' + name.slice(name.length - (maxChars - 1));
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export class FlameGraph {
  /*
   * container: element to fill. opts: {inverted, unit, title, onAction(action, name, idx),
   * onFocus(idx), tooltipExtra}. Actions: "sandwich", "highlight".
   */
  constructor(container, opts = {}) {
    this.opts = opts;
    this.container = container;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'fg-canvas';
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', opts.title || 'Flame graph');
    this.canvas.tabIndex = 0;
    container.appendChild(this.canvas);
    this.hoverBox = document.createElement('div');
    this.hoverBox.className = 'fg-hover';
    container.appendChild(this.hoverBox);
    this.ctx = this.canvas.getContext('2d', { alpha: false });
    this.model = null;
    this.unit = opts.unit || '';
    this.focus = -1;
    this.search = '';
    this.searchMatch = null; // Uint8Array per name
    this.highlight = null; // exact function name
    this.highlightIdx = -1; // its name index
    this.colourBlind = false;
    this.width = 0;
    this.lastDrawMs = 0;
    this.colors = null;
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => this.hideHover());
    this.canvas.addEventListener('click', (e) => this.onClick(e));
    this.canvas.addEventListener('dblclick', (e) => {
      const k = this.nodeAt(e);
      if (k >= 0) this.setFocus(k);
    });
    this.ro = new ResizeObserver(() => {
      if (this.container.clientWidth !== this.width && this.model) this.draw();
    });
    this.ro.observe(container);
  }

  destroy() {
    this.ro.disconnect();
    closeMenu();
    hideTooltip();
  }

  setData(model, unit) {
    this.model = model;
    if (unit !== undefined) this.unit = unit;
    this.focus = -1;
    this.computeSearch();
    this.computeHighlight();
  }

  setSearch(s) {
    this.search = s || '';
    this.computeSearch();
  }

  setHighlight(name) {
    this.highlight = name || null;
    this.computeHighlight();
  }

  setColourBlind(on) {
    this.colourBlind = !!on;
    this.colors = null;
  }

  computeSearch() {
    const m = this.model;
    this.searchMatch = null;
    if (!m || !this.search) return;
    let re = null;
    const s = this.search;
    if (s.length > 2 && s.startsWith('/') && s.endsWith('/')) {
      try { re = new RegExp(s.slice(1, -1), 'i'); } catch (_) { re = null; }
    }
    const low = s.toLowerCase();
    const mt = new Uint8Array(m.names.length);
    if (re) {
      for (let i = 0; i < m.names.length; i++) mt[i] = re.test(m.names[i]) ? 1 : 0;
    } else {
      if (!m.lowerNames) m.lowerNames = m.names.map((x) => x.toLowerCase());
      const ln = m.lowerNames;
      for (let i = 0; i < ln.length; i++) mt[i] = ln[i].indexOf(low) >= 0 ? 1 : 0;
    }
    this.searchMatch = mt;
  }

  computeHighlight() {
    this.highlightIdx = -1;
    if (!this.model || !this.highlight) return;
    this.highlightIdx = this.model.names.indexOf(this.highlight);
  }

  // Sets the focused (zoomed) node; -1 resets. Redraws.
  setFocus(k) {
    if (!this.model) return;
    this.focus = k >= 0 && k < this.model.n && k !== this.model.levelStart[0] ? k : -1;
    if (k === 0) this.focus = -1;
    this.draw();
    if (this.opts.onFocus) this.opts.onFocus(this.focus);
  }

  // Path of names from the root's child down to node k ("main;calc3"); "" for the root.
  pathOf(k) {
    const m = this.model;
    const parts = [];
    while (k > 0 && m.parent[k] >= 0) { parts.push(m.names[m.nameIdx[k]]); k = m.parent[k]; }
    return parts.reverse().join(';');
  }

  // Node at the path made by pathOf, or -1.
  nodeByPath(path) {
    const m = this.model;
    if (!m || !path) return -1;
    const parts = path.split(';');
    let cur = 0;
    for (let d = 1; d <= parts.length; d++) {
      if (d >= m.depth) return -1;
      let found = -1;
      for (let j = m.levelStart[d]; j < m.levelStart[d + 1]; j++) {
        if (m.parent[j] === cur && m.names[m.nameIdx[j]] === parts[d - 1]) { found = j; break; }
      }
      if (found < 0) return -1;
      cur = found;
    }
    return cur;
  }

  rows() {
    const m = this.model;
    if (!m) return 0;
    const dpr = window.devicePixelRatio || 1;
    return Math.min(m.depth, Math.floor(MAX_CANVAS_PX / (ROW * dpr)));
  }

  themeColors() {
    if (this.colors) return this.colors;
    const c = new Array(N_KEYS);
    for (let i = 0; i < SHADES.length; i++) c[i] = SHADES[i];
    c[K_OTHER] = OTHER_COLOR;
    for (let b = -DIFF_STEPS; b <= DIFF_STEPS; b++) c[K_DIFF0 + b] = diffColor(b, this.colourBlind);
    c[K_DIM] = cssVar('--fg-dim', '#e4e4e7');
    c[K_ANCESTOR] = cssVar('--fg-ancestor', '#d4d4d8');
    this.colors = {
      fill: c,
      bg: cssVar('--fg-bg', '#ffffff'),
      text: '#1b1b1f',
      textLight: '#ffffff',
      textDim: cssVar('--fg-dim-text', '#a1a1aa'),
    };
    return this.colors;
  }

  // Calls fn(k, px, y, pw) for every node drawn (≥ 0.5 px wide), with CSS pixel geometry.
  forEachVisible(fn) {
    const m = this.model;
    if (!m || m.n === 0) return;
    const W = this.width;
    const rows = this.rows();
    const f = this.focus >= 0 ? this.focus : 0;
    const fl = m.level[f];
    const vx0 = m.x[f], vw = m.w[f] || 1;
    const scale = W / vw;
    const inv = !!this.opts.inverted;
    // ancestors of the focused node: full width
    for (let a = m.parent[f]; a >= 0; a = m.parent[a]) {
      const L = m.level[a];
      if (L >= rows) continue;
      fn(a, 0, inv ? (rows - 1 - L) * ROW : L * ROW, W, true);
    }
    for (let L = fl; L < rows; L++) {
      const y = inv ? (rows - 1 - L) * ROW : L * ROW;
      const end = m.levelStart[L + 1];
      const vend = vx0 + vw;
      for (let k = firstVisible(m, m.levelStart[L], end, vx0); k < end; k++) {
        const x = m.x[k];
        if (x >= vend) break;
        const pw = m.w[k] * scale;
        if (pw < 0.5) { k = skipTo(m, k + 1, end, x + 0.5 / scale) - 1; continue; }
        let px = (x - vx0) * scale;
        let w = pw;
        if (px < 0) { w += px; px = 0; }
        if (px + w > W) w = W - px;
        fn(k, px, y, w, false);
      }
    }
  }

  // Draws the whole graph; returns the time taken in ms.
  draw() {
    const t0 = performance.now();
    const m = this.model;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(1, this.container.clientWidth);
    const rows = this.rows();
    const H = Math.max(ROW, rows * ROW);
    this.width = W;
    const cw = Math.round(W * dpr), ch = Math.round(H * dpr);
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw; this.canvas.height = ch;
      this.canvas.style.width = W + 'px'; this.canvas.style.height = H + 'px';
    }
    const ctx = this.ctx;
    const col = this.themeColors();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = col.bg;
    ctx.fillRect(0, 0, W, H);
    this.hideHover();
    if (!m || m.n === 0) { this.lastDrawMs = performance.now() - t0; return this.lastDrawMs; }

    ctx.font = FONT;
    if (!this.charW) this.charW = ctx.measureText('MMMMMMMMMM').width / 10;
    const charW = this.charW;
    // pass 1: visible nodes into typed arrays (reused between draws)
    const cap = m.n + m.depth + 1;
    if (!this.vis || this.vis.cap < cap) {
      this.vis = { cap, k: new Int32Array(cap), x: new Float32Array(cap), y: new Float32Array(cap), w: new Float32Array(cap),
        c: new Uint8Array(cap), order: new Int32Array(cap) };
    }
    const V = this.vis;
    const hl = this.highlightIdx, hasHl = !!this.highlight;
    const sm = this.searchMatch;
    const key = m.colorKey;
    const nameIdx = m.nameIdx;
    const counts = new Int32Array(N_KEYS + 1);
    let nv = 0;
    const f = this.focus >= 0 ? this.focus : 0;
    const inv = !!this.opts.inverted;
    const put = (k, px, y, pw, ancestor) => {
      let c;
      let dim = false;
      if (hasHl) dim = nameIdx[k] !== hl;
      else if (sm) dim = !sm[nameIdx[k]];
      if (dim) c = K_DIM;
      else if (ancestor) c = m.diff ? key[k] : K_ANCESTOR;
      else c = key[k] !== 255 ? key[k] : colourKeyOf(m, k);
      V.k[nv] = k; V.x[nv] = px; V.y[nv] = y; V.w[nv] = pw; V.c[nv] = c;
      counts[c]++;
      nv++;
    };
    for (let a = m.parent[f]; a >= 0; a = m.parent[a]) {
      if (m.level[a] < rows) put(a, 0, inv ? (rows - 1 - m.level[a]) * ROW : m.level[a] * ROW, W, true);
    }
    {
      const mx = m.x, mw = m.w, ls = m.levelStart;
      const vx0 = mx[f], vw = mw[f] || 1, vend = vx0 + vw, scale = W / vw;
      const onePx = 1 / scale;
      for (let L = m.level[f]; L < rows; L++) {
        const y = inv ? (rows - 1 - L) * ROW : L * ROW;
        const end = ls[L + 1];
        for (let k = firstVisible(m, ls[L], end, vx0); k < end; k++) {
          const x = mx[k];
          if (x >= vend) break;
          let pw = mw[k] * scale;
          if (pw < 0.5) {
            // a run of sub-pixel frames: the ones that fit in the next pixel become one muted bar
            const nk = skipTo(m, k + 1, end, x + onePx);
            const last = nk - 1;
            const rx = (mx[last] + mw[last] - vx0) * scale;
            const lx = Math.max(0, (x - vx0) * scale);
            if (rx - lx >= 0.5 && nv < V.cap) {
              const c = hasHl || sm ? K_DIM : K_OTHER;
              V.k[nv] = -1; V.x[nv] = lx; V.y[nv] = y; V.w[nv] = Math.min(rx, W) - lx; V.c[nv] = c;
              counts[c]++;
              nv++;
            }
            k = last;
            continue;
          }
          let px = (x - vx0) * scale;
          if (px < 0) { pw += px; px = 0; }
          if (px + pw > W) pw = W - px;
          // inline of put() for the common case
          let c;
          if (hasHl ? nameIdx[k] !== hl : sm ? !sm[nameIdx[k]] : false) c = K_DIM;
          else { c = key[k]; if (c === 255) c = colourKeyOf(m, k); }
          V.k[nv] = k; V.x[nv] = px; V.y[nv] = y; V.w[nv] = pw; V.c[nv] = c;
          counts[c]++;
          nv++;
        }
      }
    }
    const tCollect = performance.now();
    // pass 2: counting sort by colour, one path and one fill per colour
    const start = new Int32Array(N_KEYS + 1);
    for (let c = 1; c <= N_KEYS; c++) start[c] = start[c - 1] + counts[c - 1];
    const pos = start.slice();
    const order = V.order;
    for (let i = 0; i < nv; i++) order[pos[V.c[i]]++] = i;
    const h = ROW - 1;
    for (let c = 0; c < N_KEYS; c++) {
      if (!counts[c]) continue;
      ctx.fillStyle = col.fill[c];
      ctx.beginPath();
      for (let j = start[c], e = start[c + 1]; j < e; j++) {
        const i = order[j];
        const pw = V.w[i];
        ctx.rect(V.x[i], V.y[i], pw >= 3 ? pw - 1 : pw, h);
      }
      ctx.fill();
    }
    this.drawn = nv;
    const tFill = performance.now();
    const labels = []; // k, px, y, pw, textKind
    for (let i = 0; i < nv; i++) {
      const pw = V.w[i];
      if (pw < MIN_LABEL_PX || V.k[i] < 0) continue;
      const c = V.c[i];
      labels.push(V.k[i], V.x[i], V.y[i], pw, c === K_DIM ? 2 : (c >= K_DIFF0 - DIFF_STEPS && c < K_DIM && Math.abs(c - K_DIFF0) >= 5) ? 1 : 0);
    }
    ctx.textBaseline = 'middle';
    const textCol = [col.text, col.textLight, col.textDim];
    for (let kind = 0; kind < 3; kind++) {
      ctx.fillStyle = textCol[kind];
      for (let i = 0; i < labels.length; i += 5) {
        if (labels[i + 4] !== kind) continue;
        const k = labels[i], px = labels[i + 1], y = labels[i + 2], pw = labels[i + 3];
        const maxChars = Math.floor((pw - 8) / charW);
        const s = truncateLabel(m.names[m.nameIdx[k]], maxChars);
        if (s) ctx.fillText(s, px + 4, y + ROW / 2);
      }
    }
    const tEnd = performance.now();
    this.lastDrawMs = tEnd - t0;
    this.phases = { collect: tCollect - t0, fill: tFill - tCollect, text: tEnd - tFill, rects: nv, labels: labels.length / 5 };
    return this.lastDrawMs;
  }

  // Rectangles (CSS px, relative to the canvas) of the drawn frames named name.
  nodeRects(name) {
    const out = [];
    const m = this.model;
    if (!m) return out;
    const ni = m.names.indexOf(name);
    if (ni < 0) return out;
    this.forEachVisible((k, px, y, pw) => {
      if (m.nameIdx[k] === ni) out.push({ x: px, y, w: pw, h: ROW - 1, index: k });
    });
    return out;
  }

  nodeAt(e) {
    const m = this.model;
    if (!m || !m.n) return -1;
    const r = this.canvas.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const rows = this.rows();
    const row = Math.floor(my / ROW);
    if (row < 0 || row >= rows) return -1;
    const L = this.opts.inverted ? rows - 1 - row : row;
    const f = this.focus >= 0 ? this.focus : 0;
    if (L < m.level[f]) {
      for (let a = m.parent[f]; a >= 0; a = m.parent[a]) if (m.level[a] === L) return a;
      return -1;
    }
    if (L >= m.depth) return -1;
    const xv = m.x[f] + (mx / this.width) * m.w[f];
    const k = firstVisible(m, m.levelStart[L], m.levelStart[L + 1], xv);
    if (k < m.levelStart[L + 1] && m.x[k] <= xv) {
      // outside the focused subtree?
      if (xv < m.x[f] || xv >= m.x[f] + m.w[f]) return -1;
      return k;
    }
    return -1;
  }

  geometry(k) {
    let g = null;
    this.forEachVisible((j, px, y, pw) => { if (j === k) g = { x: px, y, w: pw }; });
    return g;
  }

  onMove(e) {
    const k = this.nodeAt(e);
    if (k < 0) { this.hideHover(); return; }
    const g = this.geometry(k);
    if (g) {
      const hb = this.hoverBox.style;
      hb.display = 'block';
      hb.left = this.canvas.offsetLeft + g.x + 'px';
      hb.top = this.canvas.offsetTop + g.y + 'px';
      hb.width = Math.max(1, g.w - 1) + 'px';
      hb.height = ROW - 1 + 'px';
    }
    showTooltip(e.clientX, e.clientY, this.tooltipHtml(k));
  }

  hideHover() {
    this.hoverBox.style.display = 'none';
    hideTooltip();
  }

  tooltipHtml(k) {
    const m = this.model;
    const name = m.names[m.nameIdx[k]];
    const file = m.files[m.nameIdx[k]];
    const u = this.unit;
    let h = `<div class="tt-name">${escapeHtml(name)}</div>`;
    if (file) h += `<div class="tt-file">${escapeHtml(file)}</div>`;
    h += '<table>';
    if (m.diff) {
      const LT = m.leftTicks, RT = m.rightTicks;
      const pl = LT ? m.lt[k] / LT : 0, pr = RT ? m.rt[k] / RT : 0;
      h += `<tr><th></th><th>Baseline</th><th>Comparison</th></tr>`;
      h += `<tr><td>Total</td><td>${fmtValue(m.lt[k], u)} (${fmtPct(pl)})</td><td>${fmtValue(m.rt[k], u)} (${fmtPct(pr)})</td></tr>`;
      h += `<tr><td>Self</td><td>${fmtValue(m.ls[k], u)} (${fmtPct(LT ? m.ls[k] / LT : 0)})</td><td>${fmtValue(m.rs[k], u)} (${fmtPct(RT ? m.rs[k] / RT : 0)})</td></tr>`;
      const d = diffPercent(m.lt[k], LT, m.rt[k], RT);
      const rel = m.lt[k] === 0 ? (m.rt[k] > 0 ? 'new' : '–') : (d >= 0 ? '+' : '') + ((pr - pl) / pl * 100).toFixed(1) + '%';
      h += `</table><div class="tt-diff ${d > 0 ? 'up' : d < 0 ? 'down' : ''}">Change in share: ${fmtPoints((pr - pl) * 100)} (${rel})</div>`;
      return h;
    }
    const tot = this.opts.rootTotal || m.numTicks || 1;
    h += `<tr><td>Total</td><td>${fmtValue(m.total[k], u)}</td><td>${fmtPct(m.total[k] / tot)}</td></tr>`;
    h += `<tr><td>Self</td><td>${fmtValue(m.self[k], u)}</td><td>${fmtPct(m.self[k] / tot)}</td></tr>`;
    h += '</table>';
    if (this.focus >= 0 && k !== this.focus) {
      h += `<div class="tt-sub">${fmtPct(m.total[k] / (m.total[this.focus] || 1))} of the focused frame</div>`;
    }
    return h;
  }

  onClick(e) {
    const k = this.nodeAt(e);
    closeMenu();
    if (k < 0) return;
    const m = this.model;
    const name = m.names[m.nameIdx[k]];
    const items = [
      ['Focus on this frame', 'focus', () => this.setFocus(k)],
      ['Copy function name', 'copy', () => copyText(name)],
    ];
    if (this.opts.onAction) {
      if (name !== 'total' && name !== 'other') {
        items.push(['Sandwich view', 'sandwich', () => this.opts.onAction('sandwich', name, k)]);
        items.push([this.highlight === name ? 'Clear highlight' : 'Highlight everywhere', 'highlight',
          () => this.opts.onAction('highlight', this.highlight === name ? null : name, k)]);
      }
    }
    if (this.focus >= 0) items.push(['Reset zoom', 'reset', () => this.setFocus(-1)]);
    openMenu(e.clientX, e.clientY, name, items);
  }

  toPNG() {
    return new Promise((res) => this.canvas.toBlob(res, 'image/png'));
  }
}

// ---- tooltip and menu (one of each per page) ----

let tooltipEl = null;
function showTooltip(x, y, html) {
  if (!tooltipEl) {
    tooltipEl = document.createElement('div');
    tooltipEl.className = 'fg-tooltip';
    document.body.appendChild(tooltipEl);
  }
  tooltipEl.innerHTML = html;
  tooltipEl.style.display = 'block';
  const r = tooltipEl.getBoundingClientRect();
  let left = x + 14, top = y + 14;
  if (left + r.width > window.innerWidth - 8) left = Math.max(8, x - r.width - 14);
  if (top + r.height > window.innerHeight - 8) top = Math.max(8, y - r.height - 14);
  tooltipEl.style.left = left + 'px';
  tooltipEl.style.top = top + 'px';
}

export function hideTooltip() {
  if (tooltipEl) tooltipEl.style.display = 'none';
}

let menuEl = null;
export function closeMenu() {
  if (menuEl) { menuEl.remove(); menuEl = null; }
}

function openMenu(x, y, title, items) {
  hideTooltip();
  menuEl = document.createElement('div');
  menuEl.className = 'fg-menu';
  menuEl.setAttribute('role', 'menu');
  const t = document.createElement('div');
  t.className = 'fg-menu-title';
  t.textContent = title;
  menuEl.appendChild(t);
  for (const [label, id, fn] of items) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.action = id;
    b.setAttribute('role', 'menuitem');
    b.addEventListener('click', (ev) => { ev.stopPropagation(); closeMenu(); fn(); });
    menuEl.appendChild(b);
  }
  document.body.appendChild(menuEl);
  const r = menuEl.getBoundingClientRect();
  menuEl.style.left = Math.min(x, window.innerWidth - r.width - 8) + 'px';
  menuEl.style.top = Math.min(y, window.innerHeight - r.height - 8) + 'px';
  const first = menuEl.querySelector('button');
  if (first) first.focus({ preventScroll: true });
}

if (typeof document !== 'undefined') document.addEventListener('mousedown', (e) => {
  if (menuEl && !menuEl.contains(e.target)) closeMenu();
});

export function copyText(s) {
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(s).catch(() => fallbackCopy(s));
  } else fallbackCopy(s);
}

function fallbackCopy(s) {
  const ta = document.createElement('textarea');
  ta.value = s;
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  try { document.execCommand('copy'); } catch (_) { /* nothing else to try */ }
  ta.remove();
}
