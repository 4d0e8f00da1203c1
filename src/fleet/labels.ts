/** Labels on everything a fleet makes: how it finds its own objects, after a crash too. */
export const LABEL = {
  managed: 'slipway.managed',
  fleet: 'slipway.fleet',
  pool: 'slipway.pool',
  agent: 'slipway.agent',
  job: 'slipway.job',
  role: 'slipway.role',
  unit: 'slipway.unit',
  service: 'slipway.service',
} as const;

export type UnitRole =
  | 'agent'
  | 'service'
  | 'network'
  | 'work'
  | 'dind'
  | 'dind-storage'
  | 'dind-certs'
  | 'ticket';

/** The fleet's own objects, shared by its units: kept by the garbage collector, removed at stop. */
export const FLEET_ROLE = 'fleet-network';

/** Docker label filters (`key=value`) for one fleet, or one unit of it. */
export function fleetFilter(fleetId: string, unitId?: string): string[] {
  return [
    `${LABEL.managed}=true`,
    `${LABEL.fleet}=${fleetId}`,
    ...(unitId === undefined ? [] : [`${LABEL.unit}=${unitId}`]),
  ];
}
