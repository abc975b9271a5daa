// labelinput.js - a label filter input (`env="prod", version=~"1\\..*"`) with autocompletion of
// label names and, after an operator, of that label's values.

import { escapeHtml } from './format.js';

const NAME_RE = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/;
const VALUE_RE = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?((?:[^"\\]|\\.)*)$/;

// Offset where the matcher under the cursor starts (after the last comma outside quotes).
function segmentStart(s) {
  let inQ = false, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && inQ) { i++; continue; }
    if (c === '"') inQ = !inQ;
    else if (c === ',' && !inQ) start = i + 1;
  }
  return start;
}

export class LabelInput {
  /* input: <input>; opts: {getNames(): Promise<string[]>, getValues(name): Promise<string[]>, onApply(text)} */
  constructor(input, opts) {
    this.input = input;
    this.opts = opts;
    this.list = document.createElement('ul');
    this.list.className = 'suggest';
    this.list.setAttribute('role', 'listbox');
    input.parentNode.appendChild(this.list);
    this.items = [];
    this.active = -1;
    this.ctx = null;
    this.seq = 0;
    input.setAttribute('autocomplete', 'off');
    input.addEventListener('input', () => this.update());
    input.addEventListener('focus', () => this.update());
    input.addEventListener('click', () => this.update());
    input.addEventListener('blur', () => setTimeout(() => this.hide(), 150));
    input.addEventListener('keydown', (e) => this.key(e));
    this.list.addEventListener('mousedown', (e) => {
      const li = e.target.closest('li');
      if (!li) return;
      e.preventDefault();
      this.accept(Number(li.dataset.i));
    });
  }

  async update() {
    const v = this.input.value;
    const cur = this.input.selectionStart ?? v.length;
    const before = v.slice(0, cur);
    const st = segmentStart(before);
    const seg = before.slice(st);
    const seq = ++this.seq;
    let m;
    let items = [];
    let ctx = null;
    try {
      if ((m = NAME_RE.exec(seg))) {
        const prefix = (m[1] || '').toLowerCase();
        const names = await this.opts.getNames();
        items = names.filter((n) => n.toLowerCase().startsWith(prefix) && !n.startsWith('__'));
        ctx = { kind: 'name', start: st, end: cur };
      } else if ((m = VALUE_RE.exec(seg))) {
        const partial = m[3].toLowerCase();
        const vals = await this.opts.getValues(m[1]);
        items = vals.filter((x) => x.toLowerCase().includes(partial));
        ctx = { kind: 'value', name: m[1], op: m[2], start: st, end: cur };
      }
    } catch (_) {
      items = [];
    }
    if (seq !== this.seq) return;
    if (document.activeElement !== this.input) return;
    this.ctx = ctx;
    this.items = items.slice(0, 50);
    this.active = this.items.length ? 0 : -1;
    this.render();
  }

  render() {
    if (!this.items.length) { this.hide(); return; }
    this.list.innerHTML = this.items.map((s, i) =>
      `<li role="option" data-i="${i}" class="${i === this.active ? 'active' : ''}">${escapeHtml(s)}<small>${this.ctx.kind === 'name' ? 'label' : 'value'}</small></li>`).join('');
    this.list.style.display = 'block';
  }

  hide() {
    this.list.style.display = 'none';
    this.items = [];
    this.active = -1;
  }

  accept(i) {
    const s = this.items[i];
    if (s === undefined || !this.ctx) return;
    const v = this.input.value;
    const c = this.ctx;
    // end of the segment under the cursor: up to the next comma outside quotes
    let end = c.end;
    let inQ = false;
    for (let j = c.start; j < v.length; j++) {
      const ch = v[j];
      if (ch === '\\' && inQ) { j++; continue; }
      if (ch === '"') inQ = !inQ;
      else if (ch === ',' && !inQ) { end = j; break; }
      end = j + 1;
    }
    const lead = c.start > 0 ? ' ' : '';
    let ins, caret;
    if (c.kind === 'name') {
      ins = lead + s + '="';
      caret = c.start + ins.length;
      ins += '"';
    } else {
      const val = c.op === '=~' || c.op === '!~' ? s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : s;
      ins = lead + c.name + c.op + '"' + val.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
      caret = c.start + ins.length;
    }
    this.input.value = v.slice(0, c.start) + ins + v.slice(end);
    this.input.setSelectionRange(caret, caret);
    this.hide();
    if (c.kind === 'name') this.update();
  }

  key(e) {
    const open = this.list.style.display === 'block' && this.items.length;
    if (e.key === 'ArrowDown' && open) {
      e.preventDefault();
      this.active = (this.active + 1) % this.items.length;
      this.render();
    } else if (e.key === 'ArrowUp' && open) {
      e.preventDefault();
      this.active = (this.active - 1 + this.items.length) % this.items.length;
      this.render();
    } else if ((e.key === 'Tab' || e.key === 'Enter') && open && this.active >= 0) {
      e.preventDefault();
      this.accept(this.active);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      this.hide();
      this.opts.onApply(this.input.value.trim());
    } else if (e.key === 'Escape') {
      if (open) { e.stopPropagation(); this.hide(); }
    }
  }
}
