import { createVariableLookup } from './macros.js';

/** Azure's format when a pipeline has no `name:`. */
export const DEFAULT_BUILD_NUMBER_FORMAT = '$(Date:yyyyMMdd)$(Rev:.r)';

export interface BuildNumberInput {
  /** When the run was queued; formatted in UTC. */
  date: Date;
  /**
   * The revision `$(Rev:r)` shows: 1 for the first run whose number (with the revision left
   * out, see `buildNumberRevisionKey`) is new, 2 for the next run with the same key, and so on.
   * Default 1.
   */
  rev?: number;
  /** Variables `$(name)` reads (case-insensitively), e.g. Build.DefinitionName, Build.BuildId. */
  variables?: Record<string, string>;
}

/** Azure's longest build number. */
export const MAX_BUILD_NUMBER = 255;

const TOKEN = /\$\(([A-Za-z0-9._-]+)(?::([^)]*))?\)/g;

/**
 * A run's build number from `name:` (Azure's build number format): `$(Date:yyyyMMdd)`,
 * `$(Rev:r)` / `$(Rev:.rr)`, `$(Year:yy)`, `$(Month)`, `$(DayOfMonth)`, `$(DayOfYear)`,
 * `$(Hours)`, `$(Minutes)`, `$(Seconds)`, and any variable (`$(Build.DefinitionName)`). A
 * reference to nothing known stays as written. Pure: the caller supplies the date and revision.
 */
export function formatBuildNumber(format: string, input: BuildNumberInput): string {
  return render(format, input, (spec) => revision(spec, input.rev ?? 1)).slice(0, MAX_BUILD_NUMBER);
}

/**
 * The build number with its revision left out: runs whose keys are equal share one revision
 * counter, as in Azure (a new date starts again at 1). Formats without `$(Rev)` give keys
 * that are whole build numbers.
 */
export function buildNumberRevisionKey(format: string, input: Omit<BuildNumberInput, 'rev'>): string {
  return render(format, input, (spec) => spec.replace(/r+/g, '\u0000'));
}

function render(format: string, input: Omit<BuildNumberInput, 'rev'>, rev: (spec: string) => string): string {
  const lookup = createVariableLookup(input.variables ?? {});
  const d = input.date;
  return format.replace(TOKEN, (token, name: string, spec: string | undefined) => {
    switch (name.toLowerCase()) {
      case 'date':
        return formatDate(d, spec ?? 'yyyyMMdd');
      case 'rev':
        return rev(spec ?? 'r');
      case 'year':
        return spec === 'yy' ? pad(d.getUTCFullYear() % 100, 2) : String(d.getUTCFullYear());
      case 'month':
        return pad(d.getUTCMonth() + 1, 2);
      case 'dayofmonth':
        return pad(d.getUTCDate(), 2);
      case 'dayofyear':
        return pad(dayOfYear(d), 3);
      case 'hours':
        return pad(d.getUTCHours(), 2);
      case 'minutes':
        return pad(d.getUTCMinutes(), 2);
      case 'seconds':
        return pad(d.getUTCSeconds(), 2);
      default:
        return spec === undefined ? (lookup(name) ?? token) : token;
    }
  });
}

/** `r` is the number, `rr` pads it to two digits; other characters are literal (`.r` → `.3`). */
function revision(spec: string, rev: number): string {
  return spec.replace(/r+/g, (run) => pad(rev, run.length));
}

/** .NET custom date format: yyyy, yy, MM, M, dd, d, HH, H, mm, m, ss, s; anything else literal. */
function formatDate(d: Date, spec: string): string {
  const parts: Record<string, string> = {
    yyyy: String(d.getUTCFullYear()),
    yy: pad(d.getUTCFullYear() % 100, 2),
    MM: pad(d.getUTCMonth() + 1, 2),
    M: String(d.getUTCMonth() + 1),
    dd: pad(d.getUTCDate(), 2),
    d: String(d.getUTCDate()),
    HH: pad(d.getUTCHours(), 2),
    H: String(d.getUTCHours()),
    mm: pad(d.getUTCMinutes(), 2),
    m: String(d.getUTCMinutes()),
    ss: pad(d.getUTCSeconds(), 2),
    s: String(d.getUTCSeconds()),
  };
  return spec.replace(/yyyy|yy|MM|M|dd|d|HH|H|mm|m|ss|s/g, (part) => parts[part] ?? part);
}

function dayOfYear(d: Date): number {
  return Math.floor(
    (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 0)) /
      86_400_000,
  );
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
