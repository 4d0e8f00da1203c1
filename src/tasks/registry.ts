import type { TaskCallInput, TaskCatalog } from '../pipeline/index.js';
import { archiveFiles } from './archive-files.js';
import { bash } from './bash.js';
import { cmake } from './cmake.js';
import { cmdLine } from './cmd-line.js';
import { copyFiles } from './copy-files.js';
import { deleteFiles } from './delete-files.js';
import { docker } from './docker.js';
import { dotNetCoreCli } from './dotnet-core-cli.js';
import { downloadBuildArtifacts0, downloadBuildArtifacts1 } from './download-build-artifacts.js';
import { downloadPipelineArtifact } from './download-pipeline-artifact.js';
import { extractFiles } from './extract-files.js';
import { gitHubRelease } from './github-release.js';
import { goTool } from './go-tool.js';
import { describeInputIssues, HAS_MACRO, normalizeInputs } from './inputs.js';
import { javaToolInstaller } from './java-tool-installer.js';
import { nodeTool } from './node-tool.js';
import { npm } from './npm.js';
import { nuGetCommand } from './nuget-command.js';
import { powerShell } from './powershell.js';
import { publishBuildArtifacts } from './publish-build-artifacts.js';
import { publishCodeCoverageResults1, publishCodeCoverageResults2 } from './publish-code-coverage-results.js';
import { publishPipelineArtifact } from './publish-pipeline-artifact.js';
import { publishTestResults } from './publish-test-results.js';
import type { AnyTask } from './types.js';
import { useDotNet } from './use-dotnet.js';
import { useNode } from './use-node.js';
import { usePythonVersion } from './use-python-version.js';

/** Every task Slipway runs, one file each. */
export const TASKS: readonly AnyTask[] = [
  publishTestResults,
  usePythonVersion,
  nodeTool,
  useNode,
  useDotNet,
  goTool,
  javaToolInstaller,
  publishBuildArtifacts,
  publishPipelineArtifact,
  downloadPipelineArtifact,
  downloadBuildArtifacts0,
  downloadBuildArtifacts1,
  cmdLine,
  bash,
  powerShell,
  copyFiles,
  deleteFiles,
  // Archives and coverage.
  archiveFiles,
  extractFiles,
  publishCodeCoverageResults1,
  publishCodeCoverageResults2,
  // Build helpers.
  dotNetCoreCli,
  nuGetCommand,
  cmake,
  npm,
  docker,
  gitHubRelease,
];

function key(name: string, version: number): string {
  return `${name.toLowerCase()}@${version}`;
}

const byKey = new Map(TASKS.map((t) => [key(t.name, t.version), t]));

/** The task `name@version` (names compare case-insensitively, as in Azure). */
export function findTask(name: string, version: number): AnyTask | undefined {
  return byKey.get(key(name, version));
}

/** Why Slipway cannot run `name@version`: naming the versions it has of that task, if any. */
export function unsupportedReason(name: string, version: number): string {
  const others = TASKS.filter((t) => t.name.toLowerCase() === name.toLowerCase()).map(
    (t) => `${t.name}@${t.version}`,
  );
  const tail =
    others.length > 0 ? `; it has ${others.join(', ')}` : ' (its tasks are listed in the README, "Tasks")';
  return `task '${name}@${version}' is not supported by Slipway${tail}`;
}

/**
 * The inputs of a call, checked before the run: unknown names, and values that are wrong as
 * written. A value with a `$(macro)` is checked by the agent, once the macro has its value.
 */
export function checkInputs(task: AnyTask, raw: Readonly<Record<string, string>>): string[] {
  const { inputs, unknown } = normalizeInputs(task, raw);
  const problems = unknown.map(
    (name) => `unknown input '${name}' (inputs: ${Object.keys(task.inputs.shape).join(', ')})`,
  );
  const deferred = new Set(Object.keys(inputs).filter((name) => HAS_MACRO.test(inputs[name] ?? '')));
  const parsed = task.inputs.safeParse(
    Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, deferred.has(k) ? 'x' : v])),
  );
  if (!parsed.success) {
    const issues = parsed.error.issues.filter((i) => !deferred.has(String(i.path[0] ?? '')));
    problems.push(...describeInputIssues(issues));
  }
  return problems;
}

/** The catalog the pipeline checks `task:` steps against. */
export const taskCatalog: TaskCatalog = {
  check(call: TaskCallInput) {
    const task = findTask(call.name, call.version);
    if (task === undefined) return { unsupported: unsupportedReason(call.name, call.version), problems: [] };
    return { problems: checkInputs(task, call.inputs) };
  },
};
