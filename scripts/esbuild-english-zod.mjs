// Shared by the agent's and the CLI's bundles.
/**
 * zod's namespace export (`z.locales`) keeps every translation of its messages in a bundle,
 * about 40% of its size, compiled at every start; Slipway's messages are English only. The
 * locales index is replaced by one exporting only `en`.
 * @type {import('esbuild').Plugin}
 */
export const englishZodOnly = {
  name: 'english-zod-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: 'js',
    }));
  },
};
