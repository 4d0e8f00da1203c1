import type { RunView } from '../../protocol/schemas.js';

/** What a run or job is now, in one word: its status until it completes, then its result. */
export function stateOf(x: { status: string; result: string | null }): string {
  return x.status === 'completed' ? (x.result ?? 'completed') : x.status;
}

const LABELS: Record<string, string> = {
  succeeded: 'Succeeded',
  succeededWithIssues: 'Succeeded with issues',
  failed: 'Failed',
  canceled: 'Canceled',
  skipped: 'Skipped',
  queued: 'Queued',
  running: 'Running',
  pending: 'Pending',
  completed: 'Completed',
};
const ICONS: Record<string, string> = {
  succeeded: '✓',
  succeededWithIssues: '!',
  failed: '✗',
  canceled: '⊘',
  skipped: '↷',
  queued: '…',
  running: '●',
  pending: '○',
  completed: '✓',
};

export function stateLabel(state: string): string {
  return LABELS[state] ?? state;
}
export function stateIcon(state: string): string {
  return ICONS[state] ?? '•';
}

/** `1h 02m`, `3m 05s`, `12s`, `0.4s`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

/** From `start` to `end`, or to now while it runs; '' when it has not started. */
export function span(start: string | null, end: string | null, now = Date.now()): string {
  if (!start) return '';
  return duration((end ? Date.parse(end) : now) - Date.parse(start));
}

/** `just now`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** `refs/heads/main` → `main`, `refs/pull/7/merge` → `pull/7/merge`. */
export function branchName(ref: string | undefined): string {
  if (!ref) return '';
  return ref.replace(/^refs\/heads\//, '').replace(/^refs\//, '');
}

/** The run's name in lists: its repository when it has one, else its pipeline file. */
export function runTitle(run: RunView): string {
  return run.source.repository ?? run.pipelineFile;
}

/**
 * A reason as it reads after its label: the server's reasons are whole phrases ("waiting for an
 * agent…"), so a label "Waiting" and a reason that starts with it say the word once.
 */
export function afterLabel(label: string | undefined, reason: string): string {
  return label && reason.toLowerCase().startsWith(`${label.toLowerCase()} `)
    ? reason.slice(label.length + 1)
    : reason;
}
