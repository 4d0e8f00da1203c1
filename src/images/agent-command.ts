/** Where the agent runtime lives in the agent image, and where fleets mount it into job images. */
export const AGENT_MOUNT = '/slipway';
export const AGENT_NODE = `${AGENT_MOUNT}/bin/node`;
export const AGENT_LIB_DIR = `${AGENT_MOUNT}/lib`;
export const AGENT_BUNDLE = `${AGENT_MOUNT}/agent/slipway-agent.mjs`;
/** What that entry runs, and V8's code cache of it, beside it (see `src/agent/entry.ts`). */
export const AGENT_BUNDLE_CODE = `${AGENT_MOUNT}/agent/slipway-agent.cjs`;
export const AGENT_BUNDLE_CODE_CACHE = `${AGENT_BUNDLE_CODE}.cache`;
/** A static busybox beside the runtime, for steps in images that have no shell of their own. */
export const AGENT_BUSYBOX = `${AGENT_MOUNT}/bin/busybox`;
/** The builder host's CA bundle, for `NODE_EXTRA_CA_CERTS` in images that have none. */
export const AGENT_CA_BUNDLE = `${AGENT_MOUNT}/certs/ca-certificates.crt`;

const LOADERS: Record<string, string> = {
  x64: 'ld-linux-x86-64.so.2',
  arm64: 'ld-linux-aarch64.so.1',
};

/** The glibc dynamic loader's file name for a Node `process.arch`; throws for unsupported ones. */
export function loaderName(arch: string = process.arch): string {
  const name = LOADERS[arch];
  if (!name) throw new Error(`the agent runtime supports x64 and arm64, not ${arch}`);
  return name;
}

/**
 * The argv that runs the agent bundle from `AGENT_MOUNT` in any Linux image. The bundled loader
 * is run as the program so the image's own libc (glibc, musl or none) is never consulted, and
 * `--library-path` rather than LD_LIBRARY_PATH keeps the job's child processes on the image's libc.
 * `arch` is the agent image's architecture, which is the builder host's.
 */
export function agentCommand(args: string[], arch: string = process.arch): string[] {
  return [
    `${AGENT_LIB_DIR}/${loaderName(arch)}`,
    '--library-path',
    AGENT_LIB_DIR,
    AGENT_NODE,
    AGENT_BUNDLE,
    ...args,
  ];
}
