// table.js - the Symbol/Self/Total table (sortable, filterable, row click highlights a function)
// and the table of biggest changes in a diff.

import { fmtValue, fmtPct, fmtPoints, escapeHtml } from './format.js';
import { diffColor, diffBucket, diffPercent } from './colors.js';

const MAX_ROWS = 1000;

export class TopTable {
  /* opts: {onRowClick(name), onSandwich(name)} */
  constructor(container, opts = {}) {
    this.opts = opts;
    this.container = container;
    this.rows = [];
    this.total = 0;
    this.unit = '';
    this.sortKey = 'self';
    this.sortDir = -1; // -1 desc, 1 asc
    this.filter = '';
    this.selected = null;
    container.classList.add('top-table-wrap');
    container.addEventListener('click', (e) => this.onClick(e));
  }

  setData(functions, total, unit) {
    this.rows = functions || [];
    this.total = total || 0;
    this.unit = unit || '';
    this.render();
  }

  setFilter(s) {
    this.filter = s || '';
    this.render();
  }

  setSelected(name) {
    this.selected = name || null;
    for (const tr of this.container.querySelectorAll('tbody tr')) {
      tr.classList.toggle('selected', tr.dataset.name === this.selected);
      tr.setAttribute('aria-selected', tr.dataset.name === this.selected ? 'true' : 'false');
    }
  }

  // Sorts by key ("name", "self", "total"): first click on a number sorts descending, on the
  // symbol ascending; clicking the current column again flips the direction.
  sortBy(key) {
    if (this.sortKey === key) this.sortDir = -this.sortDir;
    else { this.sortKey = key; this.sortDir = key === 'name' ? 1 : -1; }
    this.render();
  }

  sorted() {
    let rows = this.rows;
    if (this.filter) {
      const f = this.filter;
      let re = null;
      if (f.length > 2 && f.startsWith('/') && f.endsWith('/')) {
        try { re = new RegExp(f.slice(1, -1), 'i'); } catch (_) { re = null; }
      }
      const low = f.toLowerCase();
      rows = rows.filter((r) => (re ? re.test(r.name) : r.name.toLowerCase().includes(low)));
    }
    const k = this.sortKey, d = this.sortDir;
    rows = rows.slice();
    if (k === 'name') rows.sort((a, b) => d * a.name.localeCompare(b.name));
    else rows.sort((a, b) => d * (a[k] - b[k]) || a.name.localeCompare(b.name));
    return rows;
  }

  render() {
    const rows = this.sorted();
    const arrow = (k) => (this.sortKey === k ? (this.sortDir < 0 ? ' ▾' : ' ▴') : '');
    const aria = (k) => (this.sortKey === k ? (this.sortDir < 0 ? 'descending' : 'ascending') : 'none');
    const tot = this.total || 1;
    let h = '<table class="top-table"><thead><tr>' +
      `<th class="sym" aria-sort="${aria('name')}"><button type="button" data-sort="name">Symbol${arrow('name')}</button></th>` +
      `<th class="num" aria-sort="${aria('self')}"><button type="button" data-sort="self">Self${arrow('self')}</button></th>` +
      `<th class="num" aria-sort="${aria('total')}"><button type="button" data-sort="total">Total${arrow('total')}</button></th>` +
      '</tr></thead><tbody>';
    const n = Math.min(rows.length, MAX_ROWS);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      const sel = r.name === this.selected;
      const name = escapeHtml(r.name);
      h += `<tr data-name="${name}" class="${sel ? 'selected' : ''}" aria-selected="${sel}">` +
        `<td class="sym"><div class="sym-cell"><button type="button" class="row-act" data-act="sandwich" title="Sandwich view of this function" aria-label="Sandwich view">⇅</button>` +
        `<span class="sym-name" title="${name}${r.file ? '\n' + escapeHtml(r.file) : ''}"><bdi>${name}</bdi></span></div></td>` +
        `<td class="num"><div class="bar" style="width:${((r.self / tot) * 100).toFixed(2)}%"></div><span>${fmtValue(r.self, this.unit)}</span><small>${fmtPct(r.self / tot)}</small></td>` +
        `<td class="num"><div class="bar" style="width:${((r.total / tot) * 100).toFixed(2)}%"></div><span>${fmtValue(r.total, this.unit)}</span><small>${fmtPct(r.total / tot)}</small></td>` +
        '</tr>';
    }
    h += '</tbody></table>';
    if (!rows.length) {
      h += `<div class="table-empty">${this.filter ? 'No function matches “' + escapeHtml(this.filter) + '”.' : 'No functions.'}</div>`;
    } else if (rows.length > n) {
      h += `<div class="table-more">Showing ${n} of ${rows.length} functions — type in the search box to narrow.</div>`;
    }
    this.container.innerHTML = h;
  }

  onClick(e) {
    const sortBtn = e.target.closest('[data-sort]');
    if (sortBtn) { this.sortBy(sortBtn.dataset.sort); return; }
    const tr = e.target.closest('tbody tr');
    if (!tr) return;
    const name = tr.dataset.name;
    if (e.target.closest('[data-act="sandwich"]')) {
      if (this.opts.onSandwich) this.opts.onSandwich(name);
      return;
    }
    const next = this.selected === name ? null : name;
    this.setSelected(next);
    if (this.opts.onRowClick) this.opts.onRowClick(next);
  }
}

// Table of the biggest changes of a diff: functions [{name, left_self, right_self, left_total,
// right_total, diff}] (diff in percentage points of self share, sorted by |diff| by the server).
export function renderDiffTable(container, functions, leftTicks, rightTicks, unit, colourBlind, onRowClick) {
  const rows = (functions || []).slice(0, 200);
  let h = '<table class="top-table diff-table"><thead><tr><th class="sym">Symbol</th>' +
    '<th class="num">Baseline self</th><th class="num">Comparison self</th><th class="num">Change</th></tr></thead><tbody>';
  for (const r of rows) {
    const pl = leftTicks ? r.left_self / leftTicks : 0, pr = rightTicks ? r.right_self / rightTicks : 0;
    const pp = typeof r.diff === 'number' ? r.diff : (pr - pl) * 100;
    const col = diffColor(diffBucket(diffPercent(r.left_self, leftTicks, r.right_self, rightTicks)), colourBlind);
    const name = escapeHtml(r.name);
    h += `<tr data-name="${name}"><td class="sym"><div class="sym-cell"><span class="swatch" style="background:${col}"></span><span class="sym-name" title="${name}"><bdi>${name}</bdi></span></div></td>` +
      `<td class="num"><span>${fmtValue(r.left_self, unit)}</span><small>${fmtPct(pl)}</small></td>` +
      `<td class="num"><span>${fmtValue(r.right_self, unit)}</span><small>${fmtPct(pr)}</small></td>` +
      `<td class="num change ${pp > 0 ? 'up' : pp < 0 ? 'down' : ''}" data-color="${col}">${fmtPoints(pp)}</td></tr>`;
  }
  h += '</tbody></table>';
  if (!rows.length) h += '<div class="table-empty">No differences: both sides have the same functions in the same shares.</div>';
  container.innerHTML = h;
  if (onRowClick) {
    container.onclick = (e) => {
      const tr = e.target.closest('tbody tr');
      if (tr) onRowClick(tr.dataset.name);
    };
  }
}
