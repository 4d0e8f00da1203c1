import { describe, expect, it } from 'vitest';
import { parseContainerOptions, parseSize } from './container-options.js';
import { errorsOf, lines, planOf } from './test-support.js';

describe('container and service options', () => {
  it.each([
    ['--hostname build-box', { hostname: 'build-box' }],
    ['-h=box', { hostname: 'box' }],
    ['--env A=1 -e B=two=2 -eC= --env=D="x y"', { env: { A: '1', B: 'two=2', C: '', D: 'x y' } }],
    ['--shm-size=2g', { shmSizeBytes: 2 * 1024 ** 3 }],
    ['--shm-size 512MB', { shmSizeBytes: 512 * 1024 ** 2 }],
    [
      '--ulimit nofile=1024:4096 --ulimit core=-1',
      {
        ulimits: [
          { name: 'nofile', soft: 1024, hard: 4096 },
          { name: 'core', soft: -1, hard: -1 },
        ],
      },
    ],
    ['--ulimit nproc=100 --ulimit nproc=200', { ulimits: [{ name: 'nproc', soft: 200, hard: 200 }] }],
    ['--cpus 1.5 -m 1g', { cpus: 1.5, memoryBytes: 1024 ** 3 }],
    ['--memory=256m', { memoryBytes: 256 * 1024 ** 2 }],
    ['-u 1000:1000', { user: '1000:1000' }],
    ['--user=builder', { user: 'builder' }],
    ['--user $(uid)', { user: '$(uid)' }],
    ['', {}],
  ])('%s', (text, options) => {
    expect(parseContainerOptions(text)).toEqual({ options, problems: [] });
  });

  it.each([
    [
      '--privileged',
      0,
      "option '--privileged' is not allowed: it gives the container every right on the host",
    ],
    [
      '--cap-add SYS_ADMIN',
      0,
      "option '--cap-add' is not allowed: it widens the kernel rights of the container",
    ],
    ['--cap-add=ALL', 0, "option '--cap-add' is not allowed: it widens the kernel rights of the container"],
    ['--device /dev/fuse', 0, "option '--device' is not allowed: it gives the container a host's device"],
    [
      '--network host',
      0,
      "option '--network' is not allowed: a job's containers are on the unit's own network",
    ],
    ['--pid=host', 0, "option '--pid' is not allowed: it shares another process namespace (the host's)"],
    ['--ipc host', 0, "option '--ipc' is not allowed: it shares another IPC namespace (the host's)"],
    ['-v /:/host', 0, "option '-v' is not allowed: it mounts the host's files"],
    [
      '--volume=/var/run/docker.sock:/var/run/docker.sock',
      0,
      "option '--volume' is not allowed: it mounts the host's files",
    ],
    [
      '--security-opt seccomp=unconfined',
      0,
      "option '--security-opt' is not allowed: it loosens the container's confinement (seccomp, AppArmor, no-new-privileges)",
    ],
    ['--userns=host', 0, "option '--userns' is not allowed: it changes the container's user namespace"],
    [
      '--name db',
      0,
      "option '--name' is not allowed: Slipway names every container itself (to find, label and remove it); a service is reached by its key under services:",
    ],
    [
      '--cpus 1 --tmpfs /run',
      9,
      "option '--tmpfs' is not supported by Slipway (it honours --hostname, --env/-e, --shm-size, --ulimit, --cpus, --memory/-m, --user/-u)",
    ],
    [
      '--health-cmd "pg_isready"',
      0,
      "option '--health-cmd' is not supported by Slipway (it honours --hostname, --env/-e, --shm-size, --ulimit, --cpus, --memory/-m, --user/-u)",
    ],
    ['box', 0, "'box' is not an option (options start with '-')"],
    ['--env', 0, "option '--env' needs a value"],
    ['--env HOME', 0, "--env HOME: give a value (--env HOME=value); the host's environment is not the job's"],
    ['--env 1A=x', 0, "--env: '1A' is not a variable name"],
    ['--shm-size lots', 0, "--shm-size 'lots' is not a size (such as 512m or 2g)"],
    ['-m 1k', 0, "--memory 1k is below Docker's least, 6m"],
    ['--cpus -1', 0, "--cpus '-1' is not a positive number of CPUs"],
    ['--cpus 0', 0, "--cpus '0' is not a positive number of CPUs"],
    ['--ulimit nofile', 0, "--ulimit must be name=soft[:hard], found 'nofile'"],
    ['--ulimit files=1', 0, expect.stringMatching(/^--ulimit: unknown limit 'files' \(core, cpu, /)],
    ['--ulimit nofile=10:5', 0, '--ulimit nofile: the soft limit 10 is above the hard limit 5'],
    [
      '--hostname under_score',
      0,
      "--hostname 'under_score' is not a valid hostname (letters, digits, '-', '.'; 64 at most)",
    ],
    ['--user "a b"', 0, "--user 'a b' must be name or uid, optionally :group or :gid"],
    ["--env 'A=1", 6, 'unclosed single quote'],
  ])('%s is refused', (text, offset, message) => {
    expect(parseContainerOptions(text).problems).toEqual([{ offset, message }]);
  });

  it('reports every refused option, each where it is written, and keeps what is honoured', () => {
    const { options, problems } = parseContainerOptions(
      '--privileged --shm-size 1g --cap-add NET_ADMIN -e A=1',
    );
    expect(options).toEqual({ shmSizeBytes: 1024 ** 3, env: { A: '1' } });
    expect(problems.map((p) => p.offset)).toEqual([0, 27]);
  });

  it.each([
    ['1048576', 1048576],
    ['1k', 1024],
    ['1.5g', 1.5 * 1024 ** 3],
    ['64MiB', 64 * 1024 ** 2],
    ['0', undefined],
    ['1x', undefined],
  ])('size %s is %s bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('carries the options of a container, a service and a container resource into the plan, macros expanded', () => {
    const plan = planOf(
      lines(
        'variables: { who: builder }',
        'resources:',
        '  containers:',
        '  - { container: tools, image: alpine, options: "--hostname tools-box" }',
        'jobs:',
        '- job: a',
        '  container: { image: node:20, options: "--user $(who) -e MODE=$(who) --shm-size=1g" }',
        '  services:',
        '    db: { image: postgres, options: "--memory 512m --ulimit nofile=2048" }',
        '  steps: [{ script: x }]',
        '- job: b',
        '  container: tools',
        '  steps: [{ script: x }]',
      ),
    );
    expect(plan.jobs[0]?.container?.options).toEqual({
      user: 'builder',
      env: { MODE: 'builder' },
      shmSizeBytes: 1024 ** 3,
    });
    expect(plan.jobs[0]?.services.db?.options).toEqual({
      memoryBytes: 512 * 1024 ** 2,
      ulimits: [{ name: 'nofile', soft: 2048, hard: 2048 }],
    });
    expect(plan.jobs[1]?.container?.options).toEqual({ hostname: 'tools-box' });
  });

  it('refuses what widens privileges with file:line:col, in containers and services', () => {
    expect(
      errorsOf(
        lines(
          'container:',
          '  image: node:20',
          '  options: --shm-size 1g --privileged',
          'services:',
          '  docker: { image: docker:dind, options: "--cap-add SYS_ADMIN -v /var/run/docker.sock:/var/run/docker.sock" }',
          'steps: [{ script: x }]',
        ),
      ),
    ).toEqual([
      "p.yml:3:26: options: option '--privileged' is not allowed: it gives the container every right on the host",
      "p.yml:5:43: options: option '--cap-add' is not allowed: it widens the kernel rights of the container",
      "p.yml:5:63: options: option '-v' is not allowed: it mounts the host's files",
    ]);
  });
});
