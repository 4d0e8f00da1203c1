import { describe, expect, it } from 'vitest';
import { dockerfileChanges } from './docker-import.js';

describe('dockerfileChanges', () => {
  it('quotes values so spaces, colons and quotes survive the Dockerfile parser', () => {
    expect(
      dockerfileChanges({
        entrypoint: ['/slipway/lib/ld', '--library-path', '/slipway/lib'],
        cmd: ['/bin/bash'],
        env: { PATH: '/usr/bin:/bin', GREETING: 'say "hi"' },
        workdir: '/home/slipway',
        labels: { 'slipway.managed': 'true', 'slipway.kind': 'agent image' },
      }),
    ).toEqual([
      'ENTRYPOINT ["/slipway/lib/ld","--library-path","/slipway/lib"]',
      'CMD ["/bin/bash"]',
      'ENV PATH="/usr/bin:/bin"',
      'ENV GREETING="say \\"hi\\""',
      'WORKDIR /home/slipway',
      'LABEL slipway.managed="true" slipway.kind="agent image"',
    ]);
  });
});
