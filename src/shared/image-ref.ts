/**
 * An image reference as Docker resolves it for comparison: a missing tag is `latest`
 * (`slipway/base` and `slipway/base:latest` are the same image); a digest is kept as written.
 */
export function normalizeImageRef(ref: string): string {
  const trimmed = ref.trim();
  if (trimmed.includes('@')) return trimmed;
  const lastSlash = trimmed.lastIndexOf('/');
  return trimmed.slice(lastSlash + 1).includes(':') ? trimmed : `${trimmed}:latest`;
}
