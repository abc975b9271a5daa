// timeline.js - the total per step over the query range as a canvas area chart; drag to select a
// sub-range (reported through onSelect(fromSec, untilSec)); shows marked ranges (diff sides).

import { fmtValue, fmtClock, fmtDate, escapeHtml } from './format.js';

const H = 72;
const PAD_B = 16, PAD_T = 6;
let PAD_L = 56; // left padding: set per draw from the width of the y label

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export class Timeline {
  constructor(container, opts = {}) {
    this.opts = opts;
    this.container = container;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'tl-canvas';
    container.appendChild(this.canvas);
    this.sel = document.createElement('div');
    this.sel.className = 'tl-drag';
    container.appendChild(this.sel);
    this.tip = document.createElement('div');
    this.tip.className = 'tl-tip';
    container.appendChild(this.tip);
    this.data = null;
    this.marks = [];
    this.drag = null;
    this.canvas.addEventListener('mousedown', (e) => this.down(e));
    window.addEventListener('mousemove', (e) => this.move(e));
    window.addEventListener('mouseup', (e) => this.up(e));
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(container);
  }

  // data: {start, step, values, unit}; from/until: the query range in unix seconds.
  setData(data, from, until) {
    this.data = data;
    this.from = from;
    this.until = until;
    this.draw();
  }

  // marks: [{from, until, cls}] drawn as shaded ranges.
  setMarks(marks) {
    this.marks = marks || [];
    this.draw();
  }

  xOf(t, W) {
    if (this.padL) PAD_L = this.padL;
    return PAD_L + ((t - this.from) / (this.until - this.from || 1)) * (W - PAD_L - 4);
  }

  tOf(x, W) {
    if (this.padL) PAD_L = this.padL;
    return this.from + ((x - PAD_L) / (W - PAD_L - 4)) * (this.until - this.from);
  }

  draw() {
    const W = Math.max(100, this.container.clientWidth);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(W * dpr);
    this.canvas.height = Math.round(H * dpr);
    this.canvas.style.width = W + 'px';
    this.canvas.style.height = H + 'px';
    this.W = W;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const fg = cssVar('--muted', '#71717a');
    const grid = cssVar('--border', '#e4e4e7');
    const fill = cssVar('--accent-soft', 'rgba(234,88,12,0.25)');
    const line = cssVar('--accent', '#ea580c');
    ctx.font = '11px system-ui, sans-serif';
    {
      let mx = 0;
      for (const v of (this.data && this.data.values) || []) if (v > mx) mx = v;
      const lbl = mx > 0 && this.data ? fmtValue(mx, this.data.unit) : '0';
      PAD_L = Math.max(40, Math.ceil(ctx.measureText(lbl).width) + 12);
      this.padL = PAD_L;
    }
    ctx.fillStyle = fg;
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    const plotH = H - PAD_B - PAD_T;
    ctx.beginPath();
    ctx.moveTo(PAD_L, H - PAD_B + 0.5);
    ctx.lineTo(W - 4, H - PAD_B + 0.5);
    ctx.stroke();
    if (!this.data || !Number.isFinite(this.from)) return;
    const d = this.data;
    const vals = d.values || [];
    let max = 0;
    for (const v of vals) if (v > max) max = v;
    // marks
    for (const mk of this.marks) {
      const a = Math.max(PAD_L, this.xOf(mk.from, W)), b = Math.min(W - 4, this.xOf(mk.until, W));
      if (b <= a) continue;
      ctx.fillStyle = cssVar(mk.cls === 'right' ? '--mark-right' : '--mark-left', 'rgba(59,130,246,0.18)');
      ctx.fillRect(a, PAD_T, b - a, plotH);
    }
    // y labels
    ctx.fillStyle = fg;
    ctx.textBaseline = 'top';
    ctx.textAlign = 'right';
    if (max > 0) ctx.fillText(fmtValue(max, d.unit), PAD_L - 6, PAD_T);
    ctx.textBaseline = 'bottom';
    ctx.fillText('0', PAD_L - 6, H - PAD_B);
    // x labels: about every 120 px
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const span = this.until - this.from;
    const n = Math.max(2, Math.floor((W - PAD_L) / 120));
    for (let i = 0; i <= n; i++) {
      const t = this.from + (span * i) / n;
      const x = this.xOf(t, W);
      const lbl = span > 86400 * 1.5 ? fmtDate(t).replace(/:\d\d$/, '') : fmtClock(t);
      ctx.textAlign = i === 0 ? 'left' : i === n ? 'right' : 'center';
      ctx.fillText(lbl, x, H - PAD_B + 3);
    }
    if (!vals.length || max <= 0) {
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('no samples in this range', (W + PAD_L) / 2, plotH / 2 + PAD_T);
      return;
    }
    const step = d.step || 15;
    const bw = Math.max(1, this.xOf(d.start + step, W) - this.xOf(d.start, W));
    ctx.fillStyle = fill;
    ctx.strokeStyle = line;
    ctx.beginPath();
    for (let i = 0; i < vals.length; i++) {
      const x = this.xOf(d.start + i * step, W);
      if (x + bw < PAD_L || x > W) continue;
      const h = (vals[i] / max) * plotH;
      if (h <= 0) continue;
      ctx.rect(Math.max(PAD_L, x), PAD_T + plotH - h, Math.max(1, bw - (bw > 3 ? 1 : 0)), h);
    }
    ctx.fill();
  }

  hover(e) {
    if (!this.data || this.drag) return;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    if (x < PAD_L) { this.tip.style.display = 'none'; return; }
    const t = this.tOf(x, this.W);
    const d = this.data;
    const i = Math.floor((t - d.start) / (d.step || 15));
    if (i < 0 || i >= (d.values || []).length) { this.tip.style.display = 'none'; return; }
    this.tip.innerHTML = `${escapeHtml(fmtDate(d.start + i * d.step))} · <b>${escapeHtml(fmtValue(d.values[i], d.unit))}</b>`;
    this.tip.style.display = 'block';
    this.tip.style.left = Math.min(this.W - 180, Math.max(PAD_L, x + 8)) + 'px';
  }

  down(e) {
    if (e.button !== 0) return;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    if (x < PAD_L) return;
    this.drag = { x0: x, x1: x, left: r.left };
    this.tip.style.display = 'none';
    e.preventDefault();
  }

  move(e) {
    if (!this.drag) return;
    this.drag.x1 = Math.max(PAD_L, Math.min(this.W - 4, e.clientX - this.drag.left));
    const a = Math.min(this.drag.x0, this.drag.x1), b = Math.max(this.drag.x0, this.drag.x1);
    const s = this.sel.style;
    s.display = 'block';
    s.left = a + 'px';
    s.width = b - a + 'px';
    s.top = PAD_T + 'px';
    s.height = H - PAD_B - PAD_T + 'px';
  }

  up() {
    if (!this.drag) return;
    const { x0, x1 } = this.drag;
    this.drag = null;
    this.sel.style.display = 'none';
    if (Math.abs(x1 - x0) < 4) return;
    const a = this.tOf(Math.min(x0, x1), this.W), b = this.tOf(Math.max(x0, x1), this.W);
    if (this.opts.onSelect) this.opts.onSelect(Math.floor(a), Math.ceil(b));
  }
}
