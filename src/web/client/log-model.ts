import { plainText } from './ansi.js';

/** A `##[group]` block: its header line, where it ends (once it has), whether it is folded. */
export interface LogGroup {
  header: number;
  end: number | null;
  collapsed: boolean;
  /** The group this one is nested in, or -1. */
  parent: number;
}

const GROUP = /^##\[group\]/;
const END_GROUP = /^##\[endgroup\]/;

/**
 * A job's log as lines, built from the chunks the feed delivers (a chunk may end mid-line),
 * with its `##[group]` blocks, which are folded until opened. `visible` lists the lines to
 * draw, in order; the view draws only the few of them on screen. Pure: no DOM.
 */
export class LogModel {
  /** Each line's text as printed (colour codes and all), without its newline. */
  readonly lines: string[] = [];
  /** The step each line came from (-1: the job's own setup and teardown). */
  readonly steps: number[] = [];
  /** The innermost group holding each line (a header belongs to its parent), or -1. */
  readonly groupOf: number[] = [];
  readonly groups: LogGroup[] = [];
  /** Indexes into `lines` of the lines shown, in order. */
  visible: number[] = [];
  /** The longest line so far, in characters (for the view's width). */
  widest = 0;
  /** Bumped whenever `visible` is rebuilt rather than appended to. */
  version = 0;
  private openLine = false;
  private readonly stack: number[] = [];
  private readonly plainCache: (string | undefined)[] = [];
  /** Groups folded by default; a person's own choice is kept per group. */
  constructor(private readonly foldByDefault = true) {}

  get length(): number {
    return this.lines.length;
  }

  /** Adds a chunk of the log of `step`. */
  append(text: string, step: number): void {
    if (text === '') return;
    if (this.openLine && this.steps.at(-1) !== step) this.closeLine();
    const parts = text.split('\n');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!.replace(/\r$/, '');
      const ends = i < parts.length - 1;
      if (i === parts.length - 1 && part === '') break;
      if (this.openLine) {
        const at = this.lines.length - 1;
        this.lines[at] += part;
        this.plainCache[at] = undefined;
        this.widest = Math.max(this.widest, this.lines[at]!.length);
      } else this.addLine(part, step);
      if (ends) this.closeLine();
      else this.openLine = true;
    }
  }

  /** The line without colour codes. */
  plain(line: number): string {
    let p = this.plainCache[line];
    if (p === undefined) {
      p = plainText(this.lines[line] ?? '');
      this.plainCache[line] = p;
    }
    return p;
  }

  /** The group whose header is `line`, if it is one. */
  groupAt(line: number): number {
    return this.headers.get(line) ?? -1;
  }

  toggle(group: number): void {
    const g = this.groups[group];
    if (!g) return;
    g.collapsed = !g.collapsed;
    this.rebuild();
  }

  /** Opens every group around `line`, so it can be shown. */
  reveal(line: number): void {
    let changed = false;
    for (let g = this.groupOf[line] ?? -1; g >= 0; g = this.groups[g]!.parent) {
      if (this.groups[g]!.collapsed) {
        this.groups[g]!.collapsed = false;
        changed = true;
      }
    }
    if (changed) this.rebuild();
  }

  /** Where `line` is among the visible ones, or -1 when it is folded away. */
  rowOf(line: number): number {
    let lo = 0;
    let hi = this.visible.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.visible[mid]!;
      if (v === line) return mid;
      if (v < line) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Lines whose text contains `query` (any case), folded ones too; `##[endgroup]` lines never. */
  search(query: string): number[] {
    const q = query.toLowerCase();
    if (!q) return [];
    const found: number[] = [];
    for (let i = 0; i < this.lines.length; i++) {
      if (this.hiddenAlways(i)) continue;
      if (this.plain(i).toLowerCase().includes(q)) found.push(i);
    }
    return found;
  }

  /** The first line of each step, by step index. */
  firstLines(): Map<number, number> {
    const first = new Map<number, number>();
    for (let i = 0; i < this.steps.length; i++) if (!first.has(this.steps[i]!)) first.set(this.steps[i]!, i);
    return first;
  }

  private readonly headers = new Map<number, number>();
  private readonly endLines = new Set<number>();

  private addLine(text: string, step: number): void {
    const index = this.lines.length;
    this.lines.push(text);
    this.steps.push(step);
    this.groupOf.push(this.stack.at(-1) ?? -1);
    this.widest = Math.max(this.widest, text.length);
    if (!this.hidden(index)) this.visible.push(index);
  }

  /** A line is complete: now it can be read as the start or the end of a group. */
  private closeLine(): void {
    this.openLine = false;
    const index = this.lines.length - 1;
    const text = this.lines[index]!;
    if (GROUP.test(text)) {
      const id = this.groups.length;
      this.groups.push({
        header: index,
        end: null,
        collapsed: this.foldByDefault,
        parent: this.stack.at(-1) ?? -1,
      });
      this.headers.set(index, id);
      this.stack.push(id);
    } else if (END_GROUP.test(text)) {
      // The closing marker is not shown: the group's end is where its lines stop.
      this.endLines.add(index);
      if (this.visible.at(-1) === index) this.visible.pop();
      const id = this.stack.pop();
      if (id !== undefined) this.groups[id]!.end = index;
    }
  }

  private hiddenAlways(line: number): boolean {
    return this.endLines.has(line);
  }

  private hidden(line: number): boolean {
    if (this.endLines.has(line)) return true;
    for (let g = this.groupOf[line] ?? -1; g >= 0; g = this.groups[g]!.parent) {
      if (this.groups[g]!.collapsed) return true;
    }
    return false;
  }

  private rebuild(): void {
    const visible: number[] = [];
    for (let i = 0; i < this.lines.length; i++) if (!this.hidden(i)) visible.push(i);
    this.visible = visible;
    this.version++;
  }
}
