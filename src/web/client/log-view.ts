import { parseAnsi } from './ansi.js';
import { h, replace } from './dom.js';
import type { LogModel } from './log-model.js';

/** Height of one line in pixels; `.log-line` in style.css has the same. */
export const ROW_PX = 20;
const OVERSCAN = 30;

const COMMANDS: [RegExp, string][] = [
  [/^##\[error\]/, 'log-error'],
  [/^##\[warning\]/, 'log-warning'],
  [/^##\[section\]/, 'log-section'],
  [/^##\[command\]/, 'log-command'],
  [/^##\[debug\]/, 'log-debug'],
  [/^##\[group\]/, 'log-group'],
];

export interface LogViewOptions {
  /** Where the whole log downloads from. */
  downloadHref: string;
  downloadName: string;
}

/**
 * Draws a `LogModel`: only the lines on screen (plus a margin) exist in the page, so a log of
 * any length scrolls as lightly as a short one. Line numbers are anchors (`#L12`); a search box
 * finds lines (opening the groups they are in); while the view is at its end it follows the log.
 */
export class LogView {
  readonly element: HTMLElement;
  private readonly viewport: HTMLDivElement;
  private readonly sizer: HTMLDivElement;
  private readonly rows: HTMLDivElement;
  private readonly searchBox: HTMLInputElement;
  private readonly count: HTMLSpanElement;
  private readonly empty: HTMLParagraphElement;
  private matches: number[] = [];
  private current = -1;
  private query = '';
  private selected = -1;
  private following = true;
  private frame = 0;
  private searchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly model: LogModel,
    o: LogViewOptions,
  ) {
    this.searchBox = h('input', {
      type: 'search',
      id: 'log-search',
      placeholder: 'Find in log',
      autocomplete: 'off',
      spellcheck: 'false',
      on: {
        input: () => this.scheduleSearch(),
        keydown: (e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            this.step(e.shiftKey ? -1 : 1);
          }
        },
      },
    });
    this.count = h('span', { class: 'log-count', 'aria-live': 'polite' });
    this.sizer = h('div', { class: 'log-sizer' });
    this.rows = h('div', { class: 'log-rows' });
    this.empty = h('p', { class: 'log-empty' }, 'No output yet.');
    this.viewport = h(
      'div',
      {
        class: 'log-viewport',
        tabindex: 0,
        role: 'log',
        'aria-label': 'Job log',
        on: { scroll: () => this.onScroll() },
      },
      this.empty,
      this.sizer,
      this.rows,
    );
    this.viewport.addEventListener('click', (e) => this.onClick(e));
    this.element = h(
      'section',
      { class: 'log', 'aria-label': 'Log' },
      h(
        'div',
        { class: 'log-toolbar' },
        h('label', { for: 'log-search', class: 'visually-hidden' }, 'Find in log'),
        this.searchBox,
        h(
          'button',
          { type: 'button', 'aria-label': 'Previous match', on: { click: () => this.step(-1) } },
          '↑',
        ),
        h('button', { type: 'button', 'aria-label': 'Next match', on: { click: () => this.step(1) } }, '↓'),
        this.count,
        h('span', { class: 'spacer' }),
        h('a', { class: 'button', href: o.downloadHref, download: o.downloadName }, 'Download'),
      ),
      this.viewport,
    );
  }

  /** The model has news: redraw soon, keeping to the end when the view was there. */
  update(): void {
    if (this.query) this.scheduleSearch();
    this.schedule();
  }

  /** Shows the line `line` (0-based) selected, as `#L<line+1>` asks. */
  select(line: number): void {
    if (line < 0 || line >= this.model.length) return;
    this.selected = line;
    this.model.reveal(line);
    this.following = false;
    this.scrollToLine(line);
  }

  private scrollToLine(line: number): void {
    const row = this.model.rowOf(line);
    if (row < 0) return;
    // The height first: lines that arrived since the last frame may be where we go.
    this.sizer.style.height = `${this.model.visible.length * ROW_PX}px`;
    const top = row * ROW_PX;
    const height = this.viewport.clientHeight || 400;
    if (top < this.viewport.scrollTop || top + ROW_PX > this.viewport.scrollTop + height) {
      this.viewport.scrollTop = Math.max(0, top - height / 3);
    }
    this.schedule();
  }

  private onScroll(): void {
    const v = this.viewport;
    this.following = v.scrollTop + v.clientHeight >= v.scrollHeight - ROW_PX * 2;
    this.schedule();
  }

  private onClick(e: MouseEvent): void {
    const toggle = (e.target as Element).closest<HTMLElement>('[data-group]');
    if (!toggle) return;
    this.model.toggle(Number(toggle.dataset.group));
    this.schedule();
  }

  private scheduleSearch(): void {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.runSearch(), 120);
  }

  private runSearch(): void {
    const query = this.searchBox.value;
    const changed = query !== this.query;
    this.query = query;
    this.matches = this.model.search(query);
    if (changed) this.current = -1;
    if (changed && this.matches.length > 0) this.step(1);
    this.showCount();
    this.schedule();
  }

  private step(by: number): void {
    if (this.query !== this.searchBox.value) this.runSearch();
    if (this.matches.length === 0) {
      this.showCount();
      return;
    }
    this.current = (this.current + by + this.matches.length) % this.matches.length;
    const line = this.matches[this.current]!;
    this.model.reveal(line);
    this.following = false;
    this.showCount();
    this.scrollToLine(line);
  }

  private showCount(): void {
    if (!this.query) this.count.textContent = '';
    else if (this.matches.length === 0) this.count.textContent = 'no matches';
    else this.count.textContent = `${this.current + 1} of ${this.matches.length}`;
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const { model, viewport } = this;
    const total = model.visible.length;
    this.empty.hidden = model.length > 0;
    this.sizer.style.height = `${total * ROW_PX}px`;
    this.sizer.style.width = `${model.widest + 10}ch`;
    if (this.following) viewport.scrollTop = viewport.scrollHeight;
    const height = viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_PX) - OVERSCAN);
    const last = Math.min(total, Math.ceil((viewport.scrollTop + height) / ROW_PX) + OVERSCAN);
    const current = this.current >= 0 ? this.matches[this.current] : undefined;
    const matched = new Set(this.query ? this.matches : []);
    const rows: HTMLElement[] = [];
    for (let r = first; r < last; r++) {
      const line = model.visible[r]!;
      rows.push(this.row(line, matched.has(line), line === current));
    }
    this.rows.style.transform = `translateY(${first * ROW_PX}px)`;
    replace(this.rows, rows);
  }

  private row(line: number, matched: boolean, current: boolean): HTMLElement {
    const text = this.model.lines[line]!;
    const kind = COMMANDS.find(([re]) => re.test(text));
    const shown = kind ? text.replace(kind[0], '') : text;
    const classes = ['log-line'];
    if (kind) classes.push(kind[1]);
    if (matched) classes.push('match');
    if (current) classes.push('current');
    if (line === this.selected) classes.push('selected');
    const n = line + 1;
    const number = h('a', { class: 'ln', href: `#L${n}`, id: `L${n}`, 'aria-label': `line ${n}` }, String(n));
    const group = this.model.groupAt(line);
    const content = this.segments(shown);
    if (group >= 0) {
      const open = !this.model.groups[group]!.collapsed;
      return h(
        'div',
        { class: classes.join(' ') },
        number,
        h(
          'button',
          { type: 'button', class: 'group-toggle', 'data-group': group, 'aria-expanded': String(open) },
          h('span', { class: 'chevron', 'aria-hidden': 'true' }, open ? '▾' : '▸'),
          content,
        ),
      );
    }
    return h('div', { class: classes.join(' ') }, number, h('span', { class: 'txt' }, content));
  }

  /** The line's styled runs, with the search's matches marked. */
  private segments(text: string): HTMLElement[] {
    const q = this.query.toLowerCase();
    return parseAnsi(text).map((seg) => {
      const span = h('span', seg.classes.length ? { class: seg.classes.join(' ') } : {});
      if (seg.color) span.style.color = seg.color;
      if (seg.background) span.style.backgroundColor = seg.background;
      if (!q) span.textContent = seg.text;
      else {
        const lower = seg.text.toLowerCase();
        let from = 0;
        for (let at = lower.indexOf(q); at >= 0; at = lower.indexOf(q, at + q.length)) {
          span.append(seg.text.slice(from, at), h('mark', {}, seg.text.slice(at, at + q.length)));
          from = at + q.length;
        }
        span.append(seg.text.slice(from));
      }
      return span;
    });
  }
}
