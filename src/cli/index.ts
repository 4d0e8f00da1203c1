// The CLI's own surface for other domains and tests: how a run is rendered for a person.
// The `slipway` command itself starts in `main.ts`, which loads each command only when it runs.
export { formatDuration, RunRenderer, summaryTable } from './render.js';
