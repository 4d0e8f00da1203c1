import { expect, it } from 'vitest';
import { normalizeImageRef } from './image-ref.js';

it.each([
  ['slipway/base', 'slipway/base:latest'],
  ['slipway/base:latest', 'slipway/base:latest'],
  ['localhost:5000/team/app', 'localhost:5000/team/app:latest'],
  ['localhost:5000/team/app:1.2', 'localhost:5000/team/app:1.2'],
  ['busybox@sha256:abc', 'busybox@sha256:abc'],
])('%s → %s', (ref, expected) => {
  expect(normalizeImageRef(ref)).toBe(expected);
});
