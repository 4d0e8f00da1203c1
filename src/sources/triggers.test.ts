import { describe, expect, it } from 'vitest';
import {
  ciTriggered,
  pathMatches,
  prTriggered,
  readTriggers,
  scheduleBranches,
  TriggerSyntaxError,
  wildcardMatch,
} from './triggers.js';

const ci = (trigger: unknown) => readTriggers({ trigger }).trigger;
const pr = (value: unknown) => readTriggers({ pr: value }).pr;

describe('CI trigger filters (Azure semantics)', () => {
  it.each([
    // trigger as written, pushed ref, changed paths, runs?
    [undefined, 'refs/heads/anything', undefined, true],
    [undefined, 'refs/tags/v1', undefined, false], // tags build only when asked for
    ['none', 'refs/heads/main', undefined, false],
    [['main'], 'refs/heads/main', undefined, true],
    [['main'], 'refs/heads/feature', undefined, false],
    [['releases/*'], 'refs/heads/releases/1.0', undefined, true],
    [['releases/*'], 'refs/heads/releases/old/1.0', undefined, true],
    [['refs/heads/main'], 'refs/heads/main', undefined, true],
    [
      { branches: { include: ['*'], exclude: ['experimental/*'] } },
      'refs/heads/experimental/x',
      undefined,
      false,
    ],
    [{ branches: { exclude: ['wip'] } }, 'refs/heads/main', undefined, true],
    [{ branches: { exclude: ['wip'] } }, 'refs/heads/wip', undefined, false],
    [{ branches: { include: ['feature-?'] } }, 'refs/heads/feature-a', undefined, true],
    [{ branches: { include: ['feature-?'] } }, 'refs/heads/feature-ab', undefined, false],
    [{ paths: { include: ['src'] } }, 'refs/heads/main', ['src/a.ts'], true],
    [{ paths: { include: ['src'] } }, 'refs/heads/main', ['docs/a.md'], false],
    [{ paths: { include: ['src'] } }, 'refs/heads/main', undefined, true], // a new branch: unknown changes
    [
      { paths: { include: ['src'], exclude: ['src/generated'] } },
      'refs/heads/main',
      ['src/generated/x.ts'],
      false,
    ],
    [
      { paths: { include: ['src'], exclude: ['src/generated'] } },
      'refs/heads/main',
      ['src/generated/x.ts', 'src/y.ts'],
      true,
    ],
    [{ paths: { exclude: ['docs/*'] } }, 'refs/heads/main', ['docs/a.md'], false],
    [{ paths: { include: ['**/*.md'] } }, 'refs/heads/main', ['deep/er/a.md'], true],
    [{ tags: { include: ['v*'] } }, 'refs/tags/v1.2', undefined, true],
    [{ tags: { include: ['v*'], exclude: ['v0.*'] } }, 'refs/tags/v0.9', undefined, false],
    [{ tags: { include: ['v*'] }, paths: { include: ['src'] } }, 'refs/tags/v1', ['docs/x'], true], // tags ignore paths
    [{ branches: { include: ['main', 'refs/tags/*'] } }, 'refs/tags/anything', undefined, true],
    [{ branches: { include: ['main'] }, tags: { include: ['v*'] } }, 'refs/heads/main', undefined, true],
  ])('trigger %j, push of %s (%j) → %s', (trigger, ref, changedPaths, expected) => {
    expect(ciTriggered(ci(trigger), { ref, changedPaths })).toBe(expected);
  });

  it('reads batch', () => {
    expect(ci({ batch: true }).batch).toBe(true);
    expect(ci(['main']).batch).toBe(false);
  });
});

describe('PR trigger filters', () => {
  it.each([
    [undefined, 'refs/heads/main', false, undefined, true],
    ['none', 'refs/heads/main', false, undefined, false],
    [['main'], 'refs/heads/develop', false, undefined, false],
    [{ branches: { include: ['releases/*'] } }, 'refs/heads/releases/2', false, undefined, true],
    [{ drafts: false }, 'refs/heads/main', true, undefined, false],
    [{ drafts: false }, 'refs/heads/main', false, undefined, true],
    [undefined, 'refs/heads/main', true, undefined, true], // drafts build by default
    [{ paths: { include: ['src'] } }, 'refs/heads/main', false, ['README.md'], false],
  ])('pr %j into %s (draft %s, %j) → %s', (value, targetRef, draft, changedPaths, expected) => {
    expect(prTriggered(pr(value), { targetRef, draft, changedPaths })).toBe(expected);
  });

  it('autoCancel defaults to true', () => {
    expect(pr(undefined).autoCancel).toBe(true);
    expect(pr({ autoCancel: false }).autoCancel).toBe(false);
  });
});

describe('schedules', () => {
  it('read with defaults, branches from the repository’s refs', () => {
    const { schedules } = readTriggers({
      schedules: [
        { cron: '0 3 * * *', displayName: 'nightly', branches: { include: ['main', 'releases/*'] } },
        { cron: '0 0 * * 0', always: true },
      ],
    });
    expect(schedules[0]).toMatchObject({ displayName: 'nightly', always: false });
    expect(schedules[1]).toMatchObject({ displayName: '0 0 * * 0', always: true });
    const refs = ['refs/heads/main', 'refs/heads/releases/1', 'refs/heads/dev', 'refs/tags/v1'];
    expect(scheduleBranches(schedules[0]!, refs, 'refs/heads/main')).toEqual([
      'refs/heads/main',
      'refs/heads/releases/1',
    ]);
    expect(scheduleBranches(schedules[1]!, refs, 'refs/heads/main')).toEqual(['refs/heads/main']);
  });
});

describe('bad trigger syntax names the key', () => {
  it.each([
    [{ trigger: { brnches: ['main'] } }, /trigger\.brnches: not a key of 'trigger'/],
    [{ trigger: { batch: 'yes' } }, /trigger\.batch: expected true or false/],
    [{ pr: 7 }, /pr: expected/],
    [{ schedules: [{ displayName: 'x' }] }, /schedules\[0\]\.cron/],
    [{ schedules: { cron: 'x' } }, /schedules: expected a list/],
  ])('%j', (raw, message) => {
    expect(() => readTriggers(raw)).toThrow(TriggerSyntaxError);
    expect(() => readTriggers(raw)).toThrow(message);
  });
});

describe('wildcards', () => {
  it.each([
    ['a*', 'abc', true],
    ['a.c', 'abc', false], // a dot is a dot
    ['a?c', 'abc', true],
  ])('%s ~ %s → %s', (p, t, e) => expect(wildcardMatch(p, t)).toBe(e));
  it.each([
    ['src', 'src', true],
    ['src', 'srcs/x', false],
    ['/src/', 'src/a', true],
    ['src/*.ts', 'src/a.ts', true],
    ['src/*.ts', 'src/deep/a.ts', false],
    ['src/**/*.ts', 'src/deep/a.ts', true],
  ])('path %s ~ %s → %s', (p, t, e) => expect(pathMatches(p, t)).toBe(e));
});

describe('examples/repository', () => {
  it('has a trigger, pr and schedules that read, with crons that parse', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { parsePipeline } = await import('../pipeline/index.js');
    const { parseCron } = await import('./cron.js');
    const file = join(import.meta.dirname, '..', '..', 'examples', 'repository', 'azure-pipelines.yml');
    const plan = parsePipeline(readFileSync(file, 'utf8'), 'azure-pipelines.yml');
    const t = readTriggers(plan.triggers);
    expect(t.trigger).toMatchObject({ batch: true, tagsGiven: true });
    expect(t.pr).toMatchObject({ autoCancel: true, drafts: false });
    expect(t.schedules.map((s) => s.displayName)).toEqual(['Nightly', 'Weekly image rebuild']);
    for (const s of t.schedules) parseCron(s.cron);
    expect(ciTriggered(t.trigger, { ref: 'refs/heads/main', changedPaths: ['README.md'] })).toBe(false);
    expect(ciTriggered(t.trigger, { ref: 'refs/heads/main', changedPaths: ['src/a.ts'] })).toBe(true);
  });
});
