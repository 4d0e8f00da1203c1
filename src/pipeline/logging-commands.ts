/**
 * Azure Pipelines logging commands in step output: `##vso[area.action key=value;…]message` and
 * the formatting ones `##[group]`, `##[warning]`, …. Parsing is pure; the job runner applies them.
 */

export type LoggingCommand =
  | { kind: 'vso'; area: string; action: string; properties: Record<string, string>; message: string }
  | { kind: 'format'; name: FormatName; message: string };

export type FormatName = 'group' | 'endgroup' | 'section' | 'warning' | 'error' | 'debug' | 'command';
const FORMATS = new Set<string>(['group', 'endgroup', 'section', 'warning', 'error', 'debug', 'command']);

/** The escapes Azure uses inside logging command properties and messages. */
const ESCAPES: [string, string][] = [
  ['%3B', ';'],
  ['%0D', '\r'],
  ['%0A', '\n'],
  ['%5D', ']'],
  ['%25', '%'],
];

export function unescapeValue(text: string): string {
  let out = text;
  for (const [from, to] of ESCAPES) out = out.split(from).join(to);
  return out;
}

/** The command on this line, if it is one; `null` for ordinary output. Leading whitespace is allowed. */
export function parseLoggingCommand(line: string): LoggingCommand | null {
  const text = line.replace(/\r?\n$/, '').trimStart();
  const vso = /^##vso\[([A-Za-z]+)\.([A-Za-z]+)(?:\s+([^\]]*))?\](.*)$/.exec(text);
  if (vso) {
    const properties: Record<string, string> = {};
    for (const part of (vso[3] ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq <= 0) continue;
      properties[part.slice(0, eq).trim().toLowerCase()] = unescapeValue(part.slice(eq + 1).trim());
    }
    return {
      kind: 'vso',
      area: vso[1]!.toLowerCase(),
      action: vso[2]!.toLowerCase(),
      properties,
      message: unescapeValue(vso[4] ?? ''),
    };
  }
  const format = /^##\[([a-z]+)\](.*)$/.exec(text);
  if (format && FORMATS.has(format[1]!))
    return { kind: 'format', name: format[1] as FormatName, message: format[2] ?? '' };
  return null;
}

/** Whether a partial line could still become a logging command once the rest arrives. */
export function mayBecomeCommand(partial: string): boolean {
  const text = partial.trimStart();
  return text === '' ? partial.length > 0 : '##vso['.startsWith(text.slice(0, 6)) || text.startsWith('##');
}

export function isTruthy(value: string | undefined): boolean {
  return value !== undefined && /^(true|1|yes)$/i.test(value.trim());
}
