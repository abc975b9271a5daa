// colors.js - frame colours: by package/module (hash of the package prefix into a palette) and diff colours.

// 24 distinct, fairly light colours so dark text stays readable on every bar (light and dark themes).
export const PALETTE = [
  '#f2a65a', '#7fb3e6', '#9fd18b', '#e8839a', '#c3a5e8', '#f3d35c', '#6cc6bd', '#f09b7a',
  '#a8c35f', '#8aa4f0', '#e6a0d4', '#d9b27c', '#78c9e0', '#f5b971', '#b5d98f', '#dd9bbd',
  '#93b5c6', '#e7c269', '#90d0a8', '#f0a3a3', '#b9b3e8', '#c9cf6b', '#7fc7a0', '#e2a96c',
];

export const OTHER_COLOR = '#b9b9b9';

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
  if (/_\[k\]$/.test(name) || name.startsWith('[k] ') || name === '[kernel]') return 'kernel';
  let n = name;
  // Python (py-spy style "func (path/file.py:12)" or "path/file.py func")
  let m = /\(([^()]*\.py)(?::\d+)?\)$/.exec(n) || /^(\S+\.py)[: ]/.exec(n);
  if (m) return m[1].replace(/^.*\//, '');
  const paren = n.indexOf('(');
  if (paren > 0 && n.indexOf('::') < 0 && n.indexOf('/') < 0) n = n.slice(0, paren);
  if (n.indexOf('::') > 0) return n.slice(0, n.indexOf('::')).replace(/^.*[ <]/, '');
  const slash = n.lastIndexOf('/');
  if (slash >= 0) {
    // Go "github.com/a/b/pkg.(*T).M" -> "github.com/a/b/pkg"; Java "java/util/Map.get" -> "java/util"
    const rest = n.slice(slash + 1);
    const dot = rest.indexOf('.');
    return dot > 0 ? n.slice(0, slash + 1 + dot) : n.slice(0, slash);
  }
  const dot = n.indexOf('.');
  if (dot > 0 && dot < n.length - 1) {
    // Java "java.util.HashMap.get" -> "java.util"; Go "runtime.mallocgc" -> "runtime"
    const parts = n.split('.');
    if (parts.length > 3 && /^[a-z]/.test(parts[0])) return parts.slice(0, 2).join('.');
    return parts[0];
  }
  if (file) return file.replace(/^.*\//, '');
  return n;
}

export function packageColorIndex(name, file) {
  return hashString(packageOf(name, file)) % PALETTE.length;
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
