import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deliveryId, type Forge, HookPayloadError, parseDelivery, verifyDelivery } from './webhooks.js';

// Payloads as the forges' documentation shows them, trimmed to what matters.
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name));
const SECRET = 'whsec-0123456789abcdef';
const hmac = (body: Buffer, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

describe('verifying deliveries', () => {
  const body = fixture('github-push.json');
  it.each<[Forge, Record<string, string>, boolean]>([
    ['github', { 'x-hub-signature-256': `sha256=${hmac(body)}` }, true],
    ['github', { 'x-hub-signature-256': `sha256=${hmac(body, 'other')}` }, false],
    ['github', { 'x-hub-signature-256': hmac(body) }, false], // the prefix is part of it
    ['github', { 'x-hub-signature': `sha1=${hmac(body)}` }, false], // only SHA-256 counts
    ['github', {}, false],
    ['gitlab', { 'x-gitlab-token': SECRET }, true],
    ['gitlab', { 'x-gitlab-token': `${SECRET}x` }, false],
    ['gitlab', {}, false],
    ['gitea', { 'x-gitea-signature': hmac(body) }, true],
    ['gitea', { 'x-forgejo-signature': hmac(body) }, true],
    ['gitea', { 'x-gitea-signature': hmac(Buffer.from('{}')) }, false],
    ['gitea', {}, false],
  ])('%s %j → %s', (forge, headers, ok) => {
    expect(verifyDelivery(forge, headers, body, SECRET)).toBe(ok);
  });

  it('a changed body fails the signature made for the original', () => {
    const tampered = Buffer.from(body.toString().replace('refs/heads/main', 'refs/heads/evil'));
    expect(
      verifyDelivery('github', { 'x-hub-signature-256': `sha256=${hmac(body)}` }, tampered, SECRET),
    ).toBe(false);
  });

  it('delivery ids come from the forge’s header, else from the body', () => {
    expect(deliveryId('github', { 'x-github-delivery': 'abc' }, body)).toBe('abc');
    expect(deliveryId('gitlab', { 'x-gitlab-event-uuid': 'u1' }, body)).toBe('u1');
    expect(deliveryId('gitea', { 'x-gitea-delivery': 'g1' }, body)).toBe('g1');
    expect(deliveryId('gitea', {}, body)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('reading the forges’ payloads', () => {
  it('GitHub push', () => {
    expect(parseDelivery('github', { 'x-github-event': 'push' }, fixture('github-push.json'))).toEqual({
      kind: 'push',
      ref: 'refs/heads/main',
      before: '17c497ccc7cca9c2f735aa07e9e3813060ce9a6a',
      after: '1481a2de7b2a7d02428ad93446ab166be7793fbb',
    });
  });

  it('GitHub pull request from the same repository, and from a fork', () => {
    const body = fixture('github-pull-request.json');
    expect(parseDelivery('github', { 'x-github-event': 'pull_request' }, body)).toMatchObject({
      kind: 'pr',
      action: 'opened',
      number: 1347,
      fetchRef: 'refs/pull/1347/head',
      headSha: '6dcb09b5b57875f334f61aebed695e2e4193db5e',
      sourceRef: 'refs/heads/new-topic',
      targetRef: 'refs/heads/main',
      draft: false,
      fork: false,
    });
    const fork = JSON.parse(body.toString());
    fork.pull_request.head.repo.full_name = 'stranger/Hello-World';
    expect(
      parseDelivery('github', { 'x-github-event': 'pull_request' }, Buffer.from(JSON.stringify(fork))),
    ).toMatchObject({
      fork: true,
    });
    fork.action = 'closed';
    expect(
      parseDelivery('github', { 'x-github-event': 'pull_request' }, Buffer.from(JSON.stringify(fork))),
    ).toEqual({
      kind: 'ignored',
      why: 'pull request closed',
    });
  });

  it('GitHub ping is ignored', () => {
    expect(parseDelivery('github', { 'x-github-event': 'ping' }, Buffer.from('{"zen":"x"}'))).toMatchObject({
      kind: 'ignored',
    });
  });

  it('GitLab push, tag push and merge request (update with new commits only)', () => {
    expect(
      parseDelivery('gitlab', { 'x-gitlab-event': 'Push Hook' }, fixture('gitlab-push.json')),
    ).toMatchObject({
      kind: 'push',
      ref: 'refs/heads/master',
      after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
    });
    expect(
      parseDelivery('gitlab', { 'x-gitlab-event': 'Tag Push Hook' }, fixture('gitlab-tag-push.json')),
    ).toEqual({
      kind: 'push',
      ref: 'refs/tags/v1.0.0',
      before: null,
      after: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
    });
    const mr = fixture('gitlab-merge-request.json');
    expect(parseDelivery('gitlab', { 'x-gitlab-event': 'Merge Request Hook' }, mr)).toMatchObject({
      kind: 'pr',
      action: 'opened',
      number: 1,
      fetchRef: 'refs/merge-requests/1/head',
      targetRef: 'refs/heads/master',
      fork: false,
    });
    const edited = JSON.parse(mr.toString());
    edited.object_attributes.action = 'update';
    expect(
      parseDelivery(
        'gitlab',
        { 'x-gitlab-event': 'Merge Request Hook' },
        Buffer.from(JSON.stringify(edited)),
      ),
    ).toMatchObject({
      kind: 'ignored',
    });
    edited.object_attributes.oldrev = '95790bf891e76fee5e1747ab589903a6a1f80f22';
    edited.object_attributes.source_project_id = 99;
    expect(
      parseDelivery(
        'gitlab',
        { 'x-gitlab-event': 'Merge Request Hook' },
        Buffer.from(JSON.stringify(edited)),
      ),
    ).toMatchObject({
      action: 'synchronize',
      fork: true,
    });
  });

  it('Gitea push and a pull request from a fork', () => {
    expect(parseDelivery('gitea', { 'x-gitea-event': 'push' }, fixture('gitea-push.json'))).toMatchObject({
      kind: 'push',
      ref: 'refs/heads/develop',
    });
    expect(
      parseDelivery('gitea', { 'x-gitea-event': 'pull_request' }, fixture('gitea-pull-request.json')),
    ).toMatchObject({
      kind: 'pr',
      number: 3,
      fetchRef: 'refs/pull/3/head',
      targetRef: 'refs/heads/master',
      fork: true,
    });
  });

  it('a body that is not the forge’s JSON is an error naming the field', () => {
    expect(() => parseDelivery('github', { 'x-github-event': 'push' }, Buffer.from('payload=x'))).toThrow(
      HookPayloadError,
    );
    expect(() => parseDelivery('github', { 'x-github-event': 'push' }, Buffer.from('{"after":"x"}'))).toThrow(
      /push event: ref/,
    );
  });
});
