import { type FleetScaleEvent, type FleetStatus, MAX_FLEET_EVENTS } from '../protocol/index.js';
import type { PlannedUnit } from './plan.js';

type Kind = FleetScaleEvent['kind'];
const TOTAL_OF: Record<Kind, keyof FleetStatus['totals']> = {
  started: 'started',
  exited: 'exited',
  'scaled-down': 'scaledDown',
  'start-failed': 'startFailed',
};

/**
 * What a fleet tells the server of itself with each heartbeat: its containers by phase, its
 * bounds, counters of what it did and the newest scale events (for `slipway agents`, the UI
 * and `/metrics`). The fleet records events as they happen; `status` reads the units as they are.
 */
export class FleetStatusRecorder {
  readonly #events: FleetScaleEvent[] = [];
  readonly #totals: FleetStatus['totals'] = { started: 0, exited: 0, scaledDown: 0, startFailed: 0 };

  constructor(private readonly now: () => number) {}

  record(kind: Kind, unit: { name: string; jobId?: string }, detail?: string): void {
    this.#totals[TOTAL_OF[kind]]++;
    this.#events.push({
      at: new Date(this.now()).toISOString(),
      kind,
      agent: unit.name.slice(0, 100),
      ...(unit.jobId === undefined ? {} : { jobId: unit.jobId }),
      ...(detail === undefined ? {} : { detail: detail.slice(0, 500) }),
    });
    if (this.#events.length > MAX_FLEET_EVENTS) this.#events.shift();
  }

  status(
    units: ReadonlyArray<Pick<PlannedUnit, 'phase' | 'spent'>>,
    bounds: { minIdle: number; max: number; image: string },
  ): FleetStatus {
    const starting = units.filter((u) => u.phase === 'starting').length;
    const busy = units.filter((u) => u.phase === 'running' && u.spent).length;
    const idle = units.filter((u) => u.phase === 'running' && !u.spent).length;
    return {
      containers: units.length,
      starting,
      idle,
      busy,
      minIdle: bounds.minIdle,
      max: bounds.max,
      image: bounds.image || null,
      totals: { ...this.#totals },
      events: [...this.#events],
    };
  }
}
