import { describe, expect, it } from 'vitest';
import { resolveJobUser } from './job-user.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'ci:x:1001:1001::/home/ci:/bin/sh',
  'build:x:1002:1003:Build user:/var/lib/build:/usr/sbin/nologin',
  '',
].join('\n');

describe('resolveJobUser', () => {
  it('finds a user by name or uid', () => {
    expect(resolveJobUser('build', PASSWD, 0)).toEqual({
      name: 'build',
      uid: 1002,
      gid: 1003,
      home: '/var/lib/build',
    });
    expect(resolveJobUser('1001', PASSWD, 0).name).toBe('ci');
  });

  it('needs a root agent', () => {
    expect(() => resolveJobUser('build', PASSWD, 1001)).toThrow(/must run as root.*uid 1001/);
  });

  it('refuses root and unknown users', () => {
    expect(() => resolveJobUser('root', PASSWD, 0)).toThrow(/unprivileged user other than the agent's own/);
    expect(() => resolveJobUser('nobody', PASSWD, 0)).toThrow(/no such user/);
  });
});
