import { child, childrenNamed, descendants, parseXml, type XmlElement } from '../test-results/xml.js';
import type { CoverageCounter, CoverageTool } from './summary.js';

/** A file that is XML but not a coverage summary of the tool asked for. */
export class CoverageFileError extends Error {
  override name = 'CoverageFileError';
}

/** The tool that wrote a summary, by its root element (`coverage` or `report`). */
export function detectTool(root: XmlElement): CoverageTool | undefined {
  if (root.name === 'coverage') return 'Cobertura';
  if (root.name === 'report') return 'JaCoCo';
  return undefined;
}

function count(value: string | undefined, what: string): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < 0)
    throw new CoverageFileError(`${what} must be a whole number, found '${value ?? ''}'`);
  return n;
}

/**
 * Cobertura: the root's `lines-covered`/`lines-valid` and `branches-covered`/`branches-valid`;
 * older writers (Cobertura 1.9) give only rates, so the `<line>` elements are counted
 * (`hits`, and `condition-coverage="50% (1/2)"` for branches).
 */
function readCobertura(root: XmlElement): { lines: CoverageCounter; branches: CoverageCounter } {
  const a = root.attributes;
  if (a['lines-valid'] !== undefined)
    return {
      lines: {
        covered: count(a['lines-covered'], 'lines-covered'),
        total: count(a['lines-valid'], 'lines-valid'),
      },
      branches: {
        covered: count(a['branches-covered'] ?? '0', 'branches-covered'),
        total: count(a['branches-valid'] ?? '0', 'branches-valid'),
      },
    };
  const lines = { covered: 0, total: 0 };
  const branches = { covered: 0, total: 0 };
  for (const cls of descendants(root, 'class'))
    for (const line of childrenNamed(child(cls, 'lines') ?? cls, 'line')) {
      lines.total++;
      if (Number(line.attributes.hits ?? 0) > 0) lines.covered++;
      const m = /\((\d+)\/(\d+)\)/.exec(line.attributes['condition-coverage'] ?? '');
      if (line.attributes.branch === 'true' && m) {
        branches.covered += Number(m[1]);
        branches.total += Number(m[2]);
      }
    }
  return { lines, branches };
}

/** JaCoCo: the report's own `<counter type="LINE|BRANCH" missed covered>` (packages have theirs). */
function readJaCoCo(root: XmlElement): { lines: CoverageCounter; branches: CoverageCounter } {
  const counter = (type: string): CoverageCounter => {
    const c = childrenNamed(root, 'counter').find((e) => e.attributes.type === type);
    if (!c) return { covered: 0, total: 0 };
    const covered = count(c.attributes.covered, `counter ${type} covered`);
    return { covered, total: covered + count(c.attributes.missed, `counter ${type} missed`) };
  };
  return { lines: counter('LINE'), branches: counter('BRANCH') };
}

/**
 * A summary file's totals. `tool` undefined: told by the file (as PublishCodeCoverageResults@2
 * does). Throws XmlError or CoverageFileError, naming what is wrong.
 */
export function parseCoverage(
  tool: CoverageTool | undefined,
  xml: string,
): { tool: CoverageTool; lines: CoverageCounter; branches: CoverageCounter } {
  const root = parseXml(xml);
  const found = detectTool(root);
  if (found === undefined)
    throw new CoverageFileError(
      `its root element is <${root.name}>, not Cobertura's <coverage> or JaCoCo's <report>`,
    );
  if (tool !== undefined && found !== tool)
    throw new CoverageFileError(`it is a ${found} summary, not ${tool} (codeCoverageTool)`);
  return { tool: found, ...(found === 'Cobertura' ? readCobertura(root) : readJaCoCo(root)) };
}
