// colors.js - frame colours: by package/module (hash of the package prefix into a palette) and diff colours.

// 24 distinct, fairly light colours so dark text stays readable on every bar (light and dark themes).
export const PALETTE = [
  '#f2a65a', '#7fb3e6', '#9fd18b', '#e8839a', '#c3a5e8', '#f3d35c', '#6cc6bd', '#f09b7a',
  '#a8c35f', '#8aa4f0', '#e6a0d4', '#d9b27c', '#78c9e0', '#f5b971', '#b5d98f', '#dd9bbd',
  '#93b5c6', '#e7c269', '#90d0a8', '#f0a3a3', '#b9b3e8', '#c9cf6b', '#7fc7a0', '#e2a96c',
];

export const OTHER_COLOR = '#b9b9b9';

// Three shades of each palette colour, so neighbouring functions of one package stay apart.
function shade(hex, f) {
  const v = parseInt(hex.slice(1), 16);
  const ch = [(v >> 16) & 255, (v >> 8) & 255, v & 255].map((c) => Math.round(f > 0 ? c + (255 - c) * f : c * (1 + f)));
  return 'rgb(' + ch.join(',') + ')';
}
export const SHADES = PALETTE.flatMap((c) => [c, shade(c, 0.3), shade(c, -0.12)]);

// FNV-1a 32-bit hash of a string.
export function hashString(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// The package or module a frame belongs to, for colouring: Go import path + package, the first
// component of C++/Rust/Java/Python qualified names, "kernel" for kernel frames, the file when
// the name itself has none.
export function packageOf(name, file) {
  if (!name) return '';
  const n0 = name.charCodeAt(0);
  if (name.endsWith('_[k]') || (n0 === 91 && (name.startsWith('[k] ') || name === '[kernel]'))) return 'kernel';
  let n = name;
  if (n.indexOf('.py') >= 0) {
    // Python (py-spy style "func (path/file.py:12)" or "path/file.py func")
    const m = /\(([^()]*\.py)(?::\d+)?\)$/.exec(n) || /^(\S+\.py)[: ]/.exec(n);
    if (m) return m[1].slice(m[1].lastIndexOf('/') + 1);
  }
  const colons = n.indexOf('::');
  const slash = n.lastIndexOf('/');
  const paren = n.indexOf('(');
  if (paren > 0 && colons < 0 && slash < 0) n = n.slice(0, paren);
  if (colons > 0) {
    let p = n.slice(0, colons);
    const sp = Math.max(p.lastIndexOf(' '), p.lastIndexOf('<'));
    return sp >= 0 ? p.slice(sp + 1) : p;
  }
  if (slash >= 0) {
    // Go "github.com/a/b/pkg.(*T).M" -> "github.com/a/b/pkg"; Java "java/util/Map.get" -> "java/util"
    const dot = n.indexOf('.', slash + 1);
    return dot > 0 ? n.slice(0, dot) : n.slice(0, slash);
  }
  const dot = n.indexOf('.');
  if (dot > 0 && dot < n.length - 1) {
    // Java "java.util.HashMap.get" -> "java.util"; Go "runtime.mallocgc" -> "runtime"
    const d2 = n.indexOf('.', dot + 1);
    const d3 = d2 > 0 ? n.indexOf('.', d2 + 1) : -1;
    if (d3 > 0 && n0 >= 97 && n0 <= 122) return n.slice(0, d2);
    return n.slice(0, dot);
  }
  if (file) return file.slice(file.lastIndexOf('/') + 1);
  return n;
}

// Index into SHADES: the package picks the colour, the function name the shade.
export function packageColorIndex(name, file) {
  return (hashString(packageOf(name, file)) % PALETTE.length) * 3 + (hashString(name) % 3);
}

// ---- diff ----

const GREEN = [0, 170, 0], GREY = [148, 142, 142], RED = [200, 0, 0];
const CB_BLUE = [26, 133, 255], CB_RED = [220, 50, 32];

// Relative change of share, clamped to [-100, 100]: (pR - pL) / pL * 100. A node only on the
// right counts as +100 (new), only on the left as -100 (gone).
export function diffPercent(left, leftTotal, right, rightTotal) {
  const pL = leftTotal > 0 ? left / leftTotal : 0;
  const pR = rightTotal > 0 ? right / rightTotal : 0;
  if (pL === 0 && pR === 0) return 0;
  if (pL === 0) return 100;
  const d = ((pR - pL) / pL) * 100;
  return d > 100 ? 100 : d < -100 ? -100 : d;
}

function mix(a, b, t) {
  return 'rgb(' + Math.round(a[0] + (b[0] - a[0]) * t) + ',' + Math.round(a[1] + (b[1] - a[1]) * t) + ',' +
    Math.round(a[2] + (b[2] - a[2]) * t) + ')';
}

export const DIFF_STEPS = 10; // colour buckets on each side of grey

// Colour of a diff bucket in [-DIFF_STEPS, DIFF_STEPS]; colourBlind: blue for shrank instead of green.
export function diffColor(bucket, colourBlind) {
  const t = Math.abs(bucket) / DIFF_STEPS;
  if (bucket >= 0) return mix(GREY, colourBlind ? CB_RED : RED, t);
  return mix(GREY, colourBlind ? CB_BLUE : GREEN, t);
}

export function diffBucket(pct) {
  return Math.round((pct / 100) * DIFF_STEPS);
}
