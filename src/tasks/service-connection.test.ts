import { describe, expect, it } from 'vitest';
import { packageVersion } from './nuget-feed.js';
import { serviceConnection } from './service-connection.js';
import type { TaskContext } from './types.js';

/** The part of a step context these read: plain variables, secret ones, the environment. */
function fakeContext(variables: Record<string, string>, secrets: Record<string, string> = {}): TaskContext {
  const find = (from: Record<string, string>, name: string) =>
    Object.entries(from).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  return {
    variable: (name: string) => find(variables, name),
    secret: (name: string) => find(secrets, name),
    env: {},
  } as Partial<TaskContext> as TaskContext;
}

const REGISTRY = [
  { name: 'registry', secret: false, what: 'its address' },
  { name: 'password', secret: true, what: 'its password' },
];

describe('serviceConnection', () => {
  it('maps a connection by variables, credentials from secrets (names in any case)', () => {
    const ctx = fakeContext({ 'reg.registry': 'r:5000' }, { 'REG.Password': 'pw' });
    expect(serviceConnection(ctx, 'containerRegistry', 'reg', REGISTRY)).toEqual({
      values: { registry: 'r:5000', password: 'pw' },
    });
  });

  it.each([
    [
      'nothing mapped',
      fakeContext({}),
      "Slipway has no service connections; containerRegistry 'reg' is mapped by the variables reg.registry (its address), reg.password (secret: its password), and reg.registry, reg.password are not set. Give them as run or repository secrets (slipway run --secret 'reg.password=…'), or from a variable group.",
    ],
    [
      'a password in a plain variable',
      fakeContext({ 'reg.registry': 'r:5000', 'reg.password': 'in clear' }),
      "reg.password is a plain variable: a credential must be a secret variable, so it is masked and kept out of other steps. Give them as run or repository secrets (slipway run --secret 'reg.password=…'), or from a variable group.",
    ],
  ])('refuses with %s, naming what to set', (_, ctx, failure) => {
    expect(serviceConnection(ctx, 'containerRegistry', 'reg', REGISTRY)).toEqual({ failure });
  });
});

describe('packageVersion', () => {
  const v = { envVar: 'PKG', major: '2', minor: '1', patch: '0' } as const;
  it.each([
    ['off', fakeContext({}), undefined],
    ['byEnvVar', fakeContext({ PKG: '3.4.5' }), '3.4.5'],
    ['byEnvVar', fakeContext({}), { failure: "versioningScheme byEnvVar: variable 'PKG' is not set" }],
    ['byBuildNumber', fakeContext({ 'Build.BuildNumber': 'nightly_1.2.3.4' }), '1.2.3.4'],
    ['byPrereleaseNumber', fakeContext({}), '2.1.0-CI-20260102-030405'],
  ] as const)('%s', (scheme, ctx, expected) => {
    expect(packageVersion(ctx, { ...v, scheme }, new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toEqual(expected);
  });
});
