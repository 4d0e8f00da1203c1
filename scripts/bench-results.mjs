// `.bench/results.json` is shared by several bench scripts: each reads it, sets its own keys
// and writes it back, so one `npm run bench` leaves every figure in one file.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', '.bench', 'results.json');

/** Merges `values` into the shared results file, keeping every other script's keys. */
export async function saveResults(values) {
  let current = {};
  try {
    current = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    // no results yet, or a file another run left half-written: start again
  }
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ ...current, ...values }, null, 2)}\n`);
}

/** One figure beside its goal, in the same columns every bench script prints. */
export function printFigure(name, value, goal, met) {
  const mark = met === undefined ? ' ' : met ? '✓' : '✗';
  console.log(`${mark} ${name.padEnd(52)} ${String(value).padStart(14)}   goal ${goal}`);
}

/** Whether the case named `name` was switched off with BENCH_SKIP_<NAME>=1. */
export function skipped(name) {
  const v = process.env[`BENCH_SKIP_${name}`];
  if (v && v !== '0') {
    console.log(`- ${name.toLowerCase()}: skipped (BENCH_SKIP_${name})`);
    return true;
  }
  return false;
}

/**
 * Counts the SQL statements a better-sqlite3 database runs, and the commits among them (explicit
 * COMMITs and writes outside a transaction): figures that do not depend on how busy the machine is.
 */
export async function countStatements() {
  const { default: Database } = await import('better-sqlite3');
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1'));
  probe.close();
  const counts = { statements: 0, commits: 0, bySql: new Map() };
  // BENCH_STATEMENT_TIMES=1: time spent in each statement too (which ones to cut first).
  const timed = process.env.BENCH_STATEMENT_TIMES === '1';
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const original = proto[method];
    proto[method] = function (...args) {
      const text = this.source;
      if (text === 'COMMIT') counts.commits++;
      else if (!/^(BEGIN|SAVEPOINT|RELEASE|ROLLBACK)/.test(text)) {
        counts.statements++;
        if (!this.reader && !this.database.inTransaction) counts.commits++;
      }
      if (!timed) return original.apply(this, args);
      const t = performance.now();
      const out = original.apply(this, args);
      const e = counts.bySql.get(text) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += performance.now() - t;
      counts.bySql.set(text, e);
      return out;
    };
  }
  return counts;
}
