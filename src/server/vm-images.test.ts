import { describe, expect, it } from 'vitest';
import { jobPlan } from '../pipeline/index.js';
import { applyVmImage, mapVmImage, parseVmImageMappings } from './vm-images.js';

describe('vmImage mapping', () => {
  const mappings = parseVmImageMappings({ 'Windows-2022': 'win', 'ubuntu-20.04': 'old:slipway/base:1' });

  it.each([
    ['ubuntu-latest', { target: { pool: 'default' } }],
    ['ubuntu-22.04', { target: { pool: 'default' } }],
    ['UBUNTU-20.04', { target: { pool: 'old', image: 'slipway/base:1' } }],
    ['windows-2022', { target: { pool: 'win' } }],
  ])('%s', (image, expected) => {
    expect(mapVmImage(image, mappings)).toEqual(expected);
  });

  it.each([
    ['windows-latest', 'Windows'],
    ['vs2017-win2016', 'Windows'],
    ['macOS-latest', 'macOS'],
    ['macos-13', 'macOS'],
  ])('refuses %s, a %s image, naming the flag that maps it', (image, family) => {
    expect(mapVmImage(image, mappings)).toEqual({
      refused:
        `vmImage '${image}' is a ${family} image, and Slipway runs Linux jobs: map it to a pool that can run it ` +
        `with '--vm-image-pool ${image}=POOL[:IMAGE]' (slipway server or slipway up), or write 'pool: <name>'`,
    });
  });

  it.each([['x=:img'], ['x='], ['x=pool:']])('refuses the mapping %s', (flag) => {
    const [name, value] = flag.split('=') as [string, string];
    expect(() => parseVmImageMappings({ [name]: value })).toThrow(/expected NAME=POOL or NAME=POOL:IMAGE/);
  });

  it('gives the job the mapped image unless it names a container itself', () => {
    const job = jobPlan.parse({
      name: 'a',
      displayName: 'a',
      dependsOn: [],
      condition: 'succeeded()',
      pool: { name: 'default', demands: [], vmImage: 'ubuntu-20.04' },
      variables: {},
      timeoutInMinutes: 60,
      cancelTimeoutInMinutes: 1,
      continueOnError: false,
      services: {},
      docker: 'none',
      steps: [],
      pos: { line: 1, col: 1 },
    });
    const target = { pool: 'old', image: 'slipway/base:1' };
    expect(applyVmImage(job, target)).toMatchObject({
      pool: { name: 'old', vmImage: 'ubuntu-20.04', vmImageMapping: target },
      container: { image: 'slipway/base:1' },
    });
    const own = { ...job, container: { image: 'node:20', env: {}, ports: [] } };
    expect(applyVmImage(own, target).container?.image).toBe('node:20');
  });
});
