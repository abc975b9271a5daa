// format.js - units (ns, bytes, counts), percentages, times and human names of profile types.

// Formats v in unit ("nanoseconds", "bytes", "count", "samples"...) for people: 1.25 s, 3.4 MB, 12.3k.
export function fmtValue(v, unit) {
  if (!Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const neg = v < 0;
  const a = Math.abs(v);
  let s;
  if (unit === 'nanoseconds') s = fmtDuration(a);
  else if (unit === 'bytes') s = fmtBytes(a);
  else s = fmtCount(a);
  return neg ? '−' + s : s;
}

export function fmtDuration(ns) {
  if (ns < 1e3) return trim(ns, 0) + ' ns';
  if (ns < 1e6) return trim(ns / 1e3, 1) + ' µs';
  if (ns < 1e9) return trim(ns / 1e6, 2) + ' ms';
  const s = ns / 1e9;
  if (s < 60) return trim(s, 2) + ' s';
  if (s < 3600) return trim(s / 60, 2) + ' min';
  if (s < 86400) return trim(s / 3600, 2) + ' h';
  return trim(s / 86400, 2) + ' d';
}

export function fmtBytes(b) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return trim(b, i === 0 ? 0 : 2) + ' ' + units[i];
}

export function fmtCount(c) {
  if (c < 1e4) return trim(c, c < 10 && c % 1 ? 2 : 0);
  if (c < 1e6) return trim(c / 1e3, 1) + 'k';
  if (c < 1e9) return trim(c / 1e6, 2) + 'M';
  return trim(c / 1e9, 2) + 'G';
}

// Fixed decimals with trailing zeros removed: trim(1.50, 2) = "1.5".
function trim(v, d) {
  let s = v.toFixed(d);
  if (s.indexOf('.') >= 0) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

export function fmtPct(frac) {
  if (!Number.isFinite(frac)) return '–';
  const p = frac * 100;
  if (p === 0) return '0%';
  if (Math.abs(p) < 0.01) return (p < 0 ? '>−' : '<') + '0.01%';
  return trim(p, Math.abs(p) < 10 ? 2 : 1) + '%';
}

// Signed percentage points: "+12.5 pp".
export function fmtPoints(pp) {
  if (!Number.isFinite(pp)) return '–';
  const s = trim(Math.abs(pp), Math.abs(pp) < 10 ? 2 : 1);
  return (pp > 0 ? '+' : pp < 0 ? '−' : '±') + s + ' pp';
}

export function unitName(unit) {
  return { nanoseconds: 'time', bytes: 'bytes', count: 'count', samples: 'samples' }[unit] || unit || '';
}

// Human names of the profile types Ember knows; others get "name sample_type".
const NAMES = {
  'process_cpu:cpu': 'CPU',
  'process_cpu:samples': 'CPU samples',
  'cpu:cpu': 'CPU',
  'cpu:samples': 'CPU samples',
  'itimer:cpu': 'CPU (itimer)',
  'wall:wall': 'Wall',
  'wall:samples': 'Wall samples',
  'memory:alloc_objects': 'Allocated objects',
  'memory:alloc_space': 'Allocated bytes',
  'memory:inuse_objects': 'In-use objects',
  'memory:inuse_space': 'In-use bytes',
  'memory:alloc_in_new_tlab_objects': 'Allocated objects (TLAB)',
  'memory:alloc_in_new_tlab_bytes': 'Allocated bytes (TLAB)',
  'memory:alloc_outside_tlab_objects': 'Allocated objects (outside TLAB)',
  'memory:alloc_outside_tlab_bytes': 'Allocated bytes (outside TLAB)',
  'block:contentions': 'Lock contentions',
  'block:delay': 'Lock delay',
  'mutex:contentions': 'Mutex contentions',
  'mutex:delay': 'Mutex delay',
  'lock:contentions': 'Lock contentions',
  'lock:delay': 'Lock delay',
  'goroutine:goroutine': 'Goroutines',
  'goroutines:goroutine': 'Goroutines',
  'goroutine:goroutines': 'Goroutines',
  'goroutines:goroutines': 'Goroutines',
  'exceptions:exceptions': 'Exceptions',
};

// Order of types in the picker: the usual ones first.
const ORDER = ['CPU', 'Wall', 'Allocated bytes', 'Allocated objects', 'In-use bytes', 'In-use objects',
  'Lock delay', 'Lock contentions', 'Mutex delay', 'Mutex contentions', 'Goroutines'];

// Human name of a profile type id "name:sample_type:sample_unit:period_type:period_unit".
export function typeName(id) {
  const p = String(id).split(':');
  const key = p[0] + ':' + p[1];
  if (NAMES[key]) return NAMES[key];
  if (p.length < 2) return id;
  const st = p[1].replace(/_/g, ' ');
  const base = p[0] === p[1] ? st : p[0].replace(/_/g, ' ') + ' ' + st;
  return base.charAt(0).toUpperCase() + base.slice(1) + (p[2] ? ' (' + p[2] + ')' : '');
}

export function typeOrder(id) {
  const i = ORDER.indexOf(typeName(id));
  return i < 0 ? ORDER.length : i;
}

// ---- time ----

const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

// Resolves a time expression ("now", "now-1h", unix s/ms/ns, RFC 3339) to unix seconds, or NaN.
export function resolveTime(t, now = Date.now() / 1000) {
  if (t === undefined || t === null || t === '') return NaN;
  t = String(t).trim();
  if (t === 'now') return now;
  let m = /^now-(\d+(?:\.\d+)?)([smhdw])$/.exec(t);
  if (m) return now - parseFloat(m[1]) * UNIT_S[m[2]];
  if (/^\d+(\.\d+)?$/.test(t)) {
    const v = parseFloat(t);
    if (v > 1e17) return v / 1e9; // ns
    if (v > 1e14) return v / 1e6; // us
    if (v > 1e11) return v / 1e3; // ms
    return v;
  }
  const d = Date.parse(t);
  return Number.isNaN(d) ? NaN : d / 1000;
}

export const PRESETS = [
  ['now-5m', 'Last 5 minutes'], ['now-15m', 'Last 15 minutes'], ['now-1h', 'Last 1 hour'],
  ['now-6h', 'Last 6 hours'], ['now-24h', 'Last 24 hours'], ['now-7d', 'Last 7 days'],
];

// "Last 1 hour" for presets; otherwise "Nov 3, 14:05:00 → 15:05:00".
export function rangeLabel(from, until) {
  if (until === 'now') {
    const p = PRESETS.find((x) => x[0] === from);
    if (p) return p[1];
    const m = /^now-(\d+(?:\.\d+)?)([smhdw])$/.exec(from);
    if (m) return 'Last ' + m[1] + { s: ' s', m: ' min', h: ' h', d: ' d', w: ' w' }[m[2]];
  }
  const a = resolveTime(from), b = resolveTime(until);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return from + ' → ' + until;
  return fmtDate(a) + ' → ' + (sameDay(a, b) ? fmtClock(b) : fmtDate(b));
}

function sameDay(a, b) {
  return new Date(a * 1000).toDateString() === new Date(b * 1000).toDateString();
}

export function fmtDate(s) {
  const d = new Date(s * 1000);
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ', ' + fmtClock(s);
}

export function fmtClock(s) {
  const d = new Date(s * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
}

// Value for <input type="datetime-local"> in local time.
export function toLocalInput(s) {
  const d = new Date(s * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' +
    p(d.getMinutes()) + ':' + p(d.getSeconds());
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
