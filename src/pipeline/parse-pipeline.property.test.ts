// biome-ignore-all lint/suspicious/noTemplateCurlyInString: pipeline YAML writes ${{ }} expressions in plain strings
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PipelineError } from '../shared/errors.js';
import { validatePipeline } from './parse-pipeline.js';

const KEYS = [
  'name',
  'pool',
  'variables',
  'jobs',
  'steps',
  'job',
  'displayName',
  'dependsOn',
  'condition',
  'timeoutInMinutes',
  'cancelTimeoutInMinutes',
  'continueOnError',
  'container',
  'services',
  'docker',
  'script',
  'bash',
  'env',
  'enabled',
  'image',
  'ports',
  'demands',
  'value',
  'readonly',
  'task',
  'stages',
  'stage',
  'deployment',
  'environment',
  'strategy',
  'matrix',
  'parallel',
  'runOnce',
  'deploy',
  'template',
  'parameters',
  'extends',
  'type',
  'default',
  'resources',
  'containers',
  'checkout',
  'publish',
  'download',
  'pwsh',
  '${{ if true }}',
  '${{ else }}',
  '${{ each x in parameters }}',
  '${{ insert }}',
  '${{ x }}',
  'a',
];
const SCALARS = fc.oneof(
  fc.constantFrom(
    'a',
    'b',
    'build',
    '1x',
    '',
    'dind',
    'true',
    'no',
    '10',
    '-1',
    'docker -equals 1',
    '8080:80',
  ),
  fc.constantFrom("eq(variables.a, 'x')", 'succeeded(', "and(always(), in('a'))", `\${{ x }}`, '$[ y ]'),
  fc.constantFrom(
    't.yml',
    'u.yml',
    `\${{ parameters }}`,
    `\${{ parameters.a }}`,
    `a\${{ x }}b`,
    '$[ variables.a ]',
    '$(x)',
    'stepList',
    'object',
    'self',
    'none',
    'current',
  ),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, SCALARS, tie('list'), tie('map')),
  list: fc.array(tie('tree'), { maxLength: 4 }),
  map: fc.dictionary(fc.constantFrom(...KEYS), tie('tree'), { maxKeys: 5 }),
}));
const VALID =
  'jobs:\n- job: a\n  steps:\n  - script: echo $(x)\n    condition: succeeded()\n- job: b\n  dependsOn: a\n  steps: [{ bash: b }]\n';

function expectOnlyErrors(text: string, readFile?: (path: string) => string | undefined): void {
  const errors = validatePipeline(text, 'p.yml', readFile ? { readFile } : {});
  for (const error of errors) {
    expect(error).toBeInstanceOf(PipelineError);
    expect(error.line).toBeGreaterThanOrEqual(1);
    expect(error.col).toBeGreaterThanOrEqual(1);
  }
}

describe('validatePipeline never throws, whatever it is given', () => {
  const options = { numRuns: 200 };

  it('on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (text) => expectOnlyErrors(text)),
      options,
    );
  });

  it('on text made of YAML punctuation', () => {
    const yamlish = fc.string({
      maxLength: 120,
      unit: fc.constantFrom(...'-:[]{}&*!|>?#,\'" \n\tab1'.split('')),
    });
    fc.assert(
      fc.property(yamlish, (text) => expectOnlyErrors(text)),
      options,
    );
  });

  it('on arbitrary pipeline-shaped structures', () => {
    fc.assert(
      fc.property(tree, (value) => expectOnlyErrors(stringify(value))),
      options,
    );
  });

  it('on pipelines whose templates are themselves arbitrary (and may include each other)', () => {
    const files = fc.dictionary(
      fc.constantFrom('t.yml', 'u.yml'),
      tree.map((v) => stringify(v)),
    );
    fc.assert(
      fc.property(tree, files, (value, templates) => {
        const started = performance.now();
        expectOnlyErrors(stringify(value), (path) => templates[path]);
        expect(performance.now() - started).toBeLessThan(5000);
      }),
      options,
    );
  });

  it('on a valid pipeline with characters changed', () => {
    const edits = fc.array(fc.tuple(fc.nat(VALID.length), fc.string({ maxLength: 3 })), {
      minLength: 1,
      maxLength: 4,
    });
    fc.assert(
      fc.property(edits, (changes) => {
        let text = VALID;
        for (const [at, insert] of changes) text = text.slice(0, at) + insert + text.slice(at + 1);
        expectOnlyErrors(text);
      }),
      options,
    );
  });
});
