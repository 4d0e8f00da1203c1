import { join } from 'node:path';
import { z } from 'zod';
import { choice, flag, text } from './inputs.js';
import { findTool, provideHint, useTool } from './tools/find-tool.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  versionSpec: text('8'),
  jdkArchitectureOption: choice(['x64', 'x86', 'arm64'], 'x64'),
  jdkSourceOption: choice(['AzureStorage', 'LocalDirectory', 'PreInstalled'], 'PreInstalled'),
  jdkFile: text(),
  azureResourceManagerEndpoint: text(),
  azureStorageAccountName: text(),
  azureContainerName: text(),
  azureCommonVirtualFile: text(),
  jdkDestinationDirectory: text(),
  azureResourceGroupName: text(),
  cleanDestinationDirectory: flag(true),
  createExtractDirectory: flag(true),
});

/** JavaToolInstaller@0 (PreInstalled): a JDK named by JAVA_HOME_<v>_<ARCH>, the tool cache or PATH. */
export const javaToolInstaller: TaskDefinition<typeof inputs> = {
  name: 'JavaToolInstaller',
  version: 0,
  summary: 'selects a pre-installed JDK (JAVA_HOME_<v>_X64, the tool cache or PATH); sets JAVA_HOME',
  inputs,
  async run(ctx, o) {
    if (o.jdkSourceOption !== 'PreInstalled')
      return {
        result: 'failed',
        reason: `jdkSourceOption '${o.jdkSourceOption}' is not supported by Slipway (it never downloads or unpacks a JDK): use 'PreInstalled' with a job image that has the JDK`,
      };
    const major = o.versionSpec.trim();
    if (!/^\d+$/.test(major))
      return { result: 'failed', reason: `versionSpec '${major}' must be a major version such as 17` };
    const arch = o.jdkArchitectureOption.toUpperCase();
    // Hosted images name each JDK so: JAVA_HOME_17_X64=/usr/lib/jvm/temurin-17-jdk-amd64.
    const named = ctx.env[`JAVA_HOME_${major}_${arch}`] || ctx.variable(`JAVA_HOME_${major}_${arch}`);
    const found = named
      ? { version: major, home: named, pathDirs: [join(named, 'bin')], source: 'PATH' as const }
      : await findTool(ctx, {
          label: 'Java',
          cacheNames: ['Java_Temurin-Hotspot_jdk', 'Java_Adopt_jdk', 'Java_Zulu_jdk', 'Java'],
          spec: major,
          arch: o.jdkArchitectureOption,
          binDirs: ['bin'],
          programs: ['java'],
          versionArgs: ['-version'],
          readVersion: (out) => {
            const m = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(out);
            // Java 8 says "1.8.0_392".
            return m ? (m[1] === '1' ? (m[2] ?? m[1]) : m[1]) : undefined;
          },
          hint: `set JAVA_HOME_${major}_${arch} in the image, or ${provideHint('Java_Temurin-Hotspot_jdk', major, `eclipse-temurin:${major}`)}`,
        });
    if ('failure' in found) return { result: 'failed', reason: found.failure };
    const home =
      found.source === 'PATH' && !named && found.home.endsWith('/bin') ? found.home.slice(0, -4) : found.home;
    useTool(ctx, 'Java', {
      ...found,
      home,
      pathDirs: found.source === 'tool cache' ? found.pathDirs : [join(home, 'bin')],
    });
    ctx.setVariable('JAVA_HOME', home);
    ctx.setVariable(`JAVA_HOME_${major}_${arch}`, home);
    return { result: 'succeeded' };
  },
};
