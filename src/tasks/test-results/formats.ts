import type { TestCaseResult } from './summary.js';
import { child, childrenNamed, descendants, parseXml, type XmlElement } from './xml.js';

/** The formats PublishTestResults@2 reads, as its `testResultsFormat` names them. */
export const TEST_FORMATS = ['JUnit', 'NUnit', 'VSTest', 'XUnit'] as const;
export type TestFormat = (typeof TEST_FORMATS)[number];

/** What one result file holds. `durationMs` is the run's own, when the file records it. */
export interface ParsedResults {
  cases: TestCaseResult[];
  durationMs?: number;
}

/** A file that is not a result file of the format asked for. */
export class ResultFileError extends Error {}

/** Reads one file's text in `format`; throws XmlError or ResultFileError when it cannot. */
export function parseResults(format: TestFormat, text: string): ParsedResults {
  const root = parseXml(text);
  switch (format) {
    case 'JUnit':
      return junit(root);
    case 'NUnit':
      if (root.name === 'test-run') return nunit3(root);
      if (root.name === 'test-results') return nunit2(root);
      throw new ResultFileError(
        `root element <${root.name}> is neither NUnit 3 <test-run> nor NUnit 2 <test-results>`,
      );
    case 'XUnit':
      return xunit2(root);
    case 'VSTest':
      return trx(root);
    default:
      return format satisfies never;
  }
}

const seconds = (value: string | undefined) => {
  const n = Number.parseFloat(value ?? '');
  return Number.isFinite(n) && n >= 0 ? n * 1000 : 0;
};

function expectRoot(root: XmlElement, names: string[], format: string): void {
  if (!names.includes(root.name))
    throw new ResultFileError(
      `root element <${root.name}> is not ${format} (${names.map((n) => `<${n}>`).join(' or ')})`,
    );
}

function messageOf(e: XmlElement | undefined): string | undefined {
  if (!e) return undefined;
  const text = (child(e, 'message')?.text ?? e.attributes.message ?? e.text).trim();
  return text === '' ? undefined : text;
}

function junit(root: XmlElement): ParsedResults {
  expectRoot(root, ['testsuites', 'testsuite'], 'JUnit');
  const cases = descendants(root, 'testcase').map((tc): TestCaseResult => {
    const className = tc.attributes.classname;
    const name = className ? `${className}.${tc.attributes.name ?? ''}` : (tc.attributes.name ?? '');
    const failure = child(tc, 'failure') ?? child(tc, 'error');
    const skipped = child(tc, 'skipped');
    const result: TestCaseResult = {
      name,
      outcome: failure ? 'failed' : skipped ? 'skipped' : 'passed',
      durationMs: seconds(tc.attributes.time),
    };
    const attr = failure?.attributes.message ?? skipped?.attributes.message;
    const message = attr ?? failure?.text.trim();
    if (message) result.message = message;
    if (failure && attr && failure.text.trim()) result.stackTrace = failure.text.trim();
    return result;
  });
  const suites = root.name === 'testsuites' ? undefined : root;
  const total = suites?.attributes.time ?? root.attributes.time;
  return total === undefined ? { cases } : { cases, durationMs: seconds(total) };
}

function nunitFailure(tc: XmlElement, result: TestCaseResult): TestCaseResult {
  const failure = child(tc, 'failure');
  const reason = child(tc, 'reason');
  const message = messageOf(failure) ?? messageOf(reason);
  if (message) result.message = message;
  const stack = failure && child(failure, 'stack-trace')?.text.trim();
  if (stack) result.stackTrace = stack;
  return result;
}

function nunit3(root: XmlElement): ParsedResults {
  const cases = descendants(root, 'test-case').map((tc) => {
    const result = (tc.attributes.result ?? '').toLowerCase();
    const outcome: TestCaseResult['outcome'] =
      result === 'passed' ? 'passed' : result === 'failed' ? 'failed' : 'skipped';
    return nunitFailure(tc, {
      name: tc.attributes.fullname ?? tc.attributes.name ?? '',
      outcome,
      durationMs: seconds(tc.attributes.duration),
    });
  });
  const duration = root.attributes.duration;
  return duration === undefined ? { cases } : { cases, durationMs: seconds(duration) };
}

function nunit2(root: XmlElement): ParsedResults {
  const cases = descendants(root, 'test-case').map((tc) => {
    const executed = (tc.attributes.executed ?? 'True').toLowerCase() === 'true';
    const result = (tc.attributes.result ?? '').toLowerCase();
    const failed =
      executed && (result === 'failure' || result === 'error' || tc.attributes.success === 'False');
    const outcome: TestCaseResult['outcome'] = failed
      ? 'failed'
      : executed && result !== 'inconclusive'
        ? 'passed'
        : 'skipped';
    return nunitFailure(tc, {
      name: tc.attributes.name ?? '',
      outcome,
      durationMs: seconds(tc.attributes.time),
    });
  });
  const suite = child(root, 'test-suite');
  const time = suite?.attributes.time;
  return time === undefined ? { cases } : { cases, durationMs: seconds(time) };
}

function xunit2(root: XmlElement): ParsedResults {
  expectRoot(root, ['assemblies', 'assembly'], 'xUnit 2');
  const assemblies = root.name === 'assembly' ? [root] : childrenNamed(root, 'assembly');
  const cases = assemblies.flatMap((a) =>
    descendants(a, 'test').map((t): TestCaseResult => {
      const result = (t.attributes.result ?? '').toLowerCase();
      const outcome: TestCaseResult['outcome'] =
        result === 'pass' ? 'passed' : result === 'fail' ? 'failed' : 'skipped';
      const out: TestCaseResult = {
        name: t.attributes.name ?? '',
        outcome,
        durationMs: seconds(t.attributes.time),
      };
      const failure = child(t, 'failure');
      const message = messageOf(failure) ?? (child(t, 'reason')?.text.trim() || undefined);
      if (message) out.message = message;
      const stack = failure && child(failure, 'stack-trace')?.text.trim();
      if (stack) out.stackTrace = stack;
      return out;
    }),
  );
  const times = assemblies.map((a) => a.attributes.time).filter((t) => t !== undefined);
  return times.length === 0 ? { cases } : { cases, durationMs: times.reduce((s, t) => s + seconds(t), 0) };
}

/** `hh:mm:ss.fffffff`, as TRX writes durations. */
function timespan(value: string | undefined): number {
  const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(value ?? '');
  if (!m) return 0;
  return ((Number(m[1] ?? 0) * 24 + Number(m[2])) * 3600 + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

function trx(root: XmlElement): ParsedResults {
  expectRoot(root, ['TestRun'], 'VSTest TRX');
  const cases = descendants(root, 'UnitTestResult').map((r): TestCaseResult => {
    const outcome = (r.attributes.outcome ?? '').toLowerCase();
    const result: TestCaseResult = {
      name: r.attributes.testName ?? '',
      outcome:
        outcome === 'passed'
          ? 'passed'
          : outcome === 'failed' || outcome === 'error' || outcome === 'timeout'
            ? 'failed'
            : 'skipped',
      durationMs: timespan(r.attributes.duration),
    };
    const info = descendants(r, 'ErrorInfo')[0];
    const message = info && child(info, 'Message')?.text.trim();
    if (message) result.message = message;
    const stack = info && child(info, 'StackTrace')?.text.trim();
    if (stack) result.stackTrace = stack;
    return result;
  });
  const times = child(root, 'Times');
  const start = Date.parse(times?.attributes.start ?? '');
  const finish = Date.parse(times?.attributes.finish ?? '');
  return Number.isFinite(start) && Number.isFinite(finish) && finish >= start
    ? { cases, durationMs: finish - start }
    : { cases };
}
