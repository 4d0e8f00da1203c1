import type { Demand } from '../pipeline/index.js';

/** The demands an agent's capabilities do not meet, as the user wrote them. */
export function unmetDemands(demands: Demand[], capabilities: Record<string, string>): Demand[] {
  const caps = new Map(Object.entries(capabilities).map(([k, v]) => [k.toLowerCase(), v]));
  return demands.filter((d) => {
    const value = caps.get(d.name.toLowerCase());
    if (value === undefined) return true;
    return d.op === 'equals' && value.toLowerCase() !== d.value.toLowerCase();
  });
}

export function formatDemand(d: Demand): string {
  return d.op === 'equals' ? `${d.name} -equals ${d.value}` : d.name;
}
