import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validatePipeline } from '../pipeline/index.js';
import { findPipeline, runSourceOf } from './pipeline-file.js';

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-pf-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

function gitInit(dir: string): void {
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: dir });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'first');
}

const GREET = 'steps:\n- script: echo hi\n';

async function errorsOf(o: Parameters<typeof findPipeline>[0]): Promise<string[]> {
  const p = await findPipeline(o);
  return validatePipeline(p.text, p.name, { readFile: p.readTemplate }).map(
    (e) => `${p.shown(e.file)}:${e.line}:${e.col}: ${e.detail}`,
  );
}

describe('findPipeline', () => {
  it('reads templates beside the including file and /-rooted ones from the git work tree, from any folder', async () => {
    const repo = await tree({
      'azure-pipelines.yml': 'steps:\n- template: templates/greet.yml\n',
      'ci/nested.yml': 'steps:\n- template: parts/local.yml\n- template: /templates/greet.yml\n',
      'ci/parts/local.yml': GREET,
      'templates/greet.yml': GREET,
    });
    gitInit(repo);
    const elsewhere = await mkdtemp(join(tmpdir(), 'slipway-cwd-'));
    expect(await errorsOf({ given: join(repo, 'azure-pipelines.yml'), cwd: elsewhere })).toEqual([]);
    expect(await errorsOf({ given: join(repo, 'ci', 'nested.yml'), cwd: elsewhere })).toEqual([]);
    const p = await findPipeline({ given: join(repo, 'ci', 'nested.yml'), cwd: elsewhere });
    expect(p.name).toBe('ci/nested.yml');
    // `slipway run PATH --dir DIR` roots at DIR, from anywhere.
    expect(await errorsOf({ given: join(repo, 'azure-pipelines.yml'), dir: repo, cwd: elsewhere })).toEqual(
      [],
    );
  });

  it('names files in errors as the user can open them from where they are', async () => {
    const repo = await tree({
      'azure-pipelines.yml': 'steps:\n- template: templates/bad.yml\n',
      'templates/bad.yml': 'steps:\n- scritp: x\n',
    });
    gitInit(repo);
    const errors = await errorsOf({ given: join(repo, 'azure-pipelines.yml'), cwd: tmpdir() });
    expect(errors).toContain(
      `${join(repo, 'templates/bad.yml')}:2:3: unknown key 'scritp' in step (did you mean 'script'?)`,
    );
    expect(await errorsOf({ given: 'azure-pipelines.yml', cwd: repo })).toContain(
      "templates/bad.yml:2:3: unknown key 'scritp' in step (did you mean 'script'?)",
    );
  });

  it('refuses a template that leads outside the repository, by a link or by .., without quoting the file', async () => {
    const outside = await tree({ 'admin.token': 'slw_adm_0123456789abcdef\n' });
    const repo = await tree({
      'azure-pipelines.yml': 'steps:\n- template: t/linked.yml\n- template: ../../admin.token\n',
    });
    await mkdir(join(repo, 't'));
    await symlink(join(outside, 'admin.token'), join(repo, 't', 'linked.yml'));
    const errors = await errorsOf({ given: 'azure-pipelines.yml', cwd: repo, dir: repo });
    expect(errors).toEqual([
      "azure-pipelines.yml:2:13: cannot read template 't/linked.yml': it is a symbolic link to a file outside the repository",
      `azure-pipelines.yml:3:13: cannot read template '../../admin.token': '../../admin.token' is outside the repository (${repo})`,
    ]);
    expect(errors.join('\n')).not.toContain('slw_adm_');
  });

  it('follows a link that stays inside the repository', async () => {
    const repo = await tree({ 'azure-pipelines.yml': 'steps:\n- template: link.yml\n', 'real.yml': GREET });
    await symlink('real.yml', join(repo, 'link.yml'));
    expect(await errorsOf({ given: 'azure-pipelines.yml', cwd: repo, dir: repo })).toEqual([]);
  });

  it('finds azure-pipelines.yaml when no pipeline is named', async () => {
    const dir = await tree({ 'azure-pipelines.yaml': GREET });
    expect((await findPipeline({ dir, cwd: dir })).name).toBe('azure-pipelines.yaml');
  });
});

describe('runSourceOf', () => {
  it('takes the branch, commit and repository name from git; only the folder name elsewhere', async () => {
    const repo = await tree({ 'a.txt': 'a' });
    gitInit(repo);
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const source = await runSourceOf(repo);
    expect(source).toEqual({
      branch: 'refs/heads/main',
      commit,
      repository: expect.stringMatching(/^slipway-pf-/),
    });
    const plain = await tree({ 'a.txt': 'a' });
    expect(await runSourceOf(plain)).toEqual({ repository: expect.stringMatching(/^slipway-pf-/) });
  });

  it("takes the default branch from the remote's HEAD, whose caches every branch reads", async () => {
    const repo = await tree({ 'a.txt': 'a' });
    gitInit(repo);
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo });
    git('checkout', '-q', '-b', 'feature/x');
    git('update-ref', 'refs/remotes/origin/trunk', 'HEAD');
    git('symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/trunk');
    expect(await runSourceOf(repo)).toMatchObject({
      branch: 'refs/heads/feature/x',
      defaultBranch: 'refs/heads/trunk',
    });
  });
});
