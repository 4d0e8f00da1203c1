import {
  type FleetScaleEvent,
  type FleetStatus,
  MAX_FLEET_EVENTS,
  MAX_FLEET_IMAGES,
} from '../protocol/index.js';
import { normalizeImageRef } from '../shared/image-ref.js';
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
    units: ReadonlyArray<Pick<PlannedUnit, 'phase' | 'spent' | 'jobId' | 'image'>>,
    bounds: { minIdle: number; max: number; image: string; warmPerImage?: number; recentImages?: string[] },
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
      ...(bounds.warmPerImage === undefined ? {} : { warmPerImage: bounds.warmPerImage }),
      warmImages: warmImages(units, bounds.image, bounds.recentImages ?? []),
      totals: { ...this.#totals },
      events: [...this.#events],
    };
  }
}

/**
 * The custom images the fleet keeps warm agents for: the recent ones (most recent first), then
 * any other that still has an unbound agent, each with its idle and starting warm agents.
 */
function warmImages(
  units: ReadonlyArray<Pick<PlannedUnit, 'phase' | 'spent' | 'jobId' | 'image'>>,
  defaultImage: string,
  recent: string[],
): NonNullable<FleetStatus['warmImages']> {
  const defaultRef = normalizeImageRef(defaultImage || 'none');
  const warm = units.filter((u) => u.jobId === undefined && !u.spent && u.image !== undefined);
  const images = [...new Set([...recent, ...warm.map((u) => u.image!)].map(normalizeImageRef))];
  return images
    .filter((image) => image !== defaultRef)
    .slice(0, MAX_FLEET_IMAGES)
    .map((image) => {
      const mine = warm.filter((u) => normalizeImageRef(u.image!) === image);
      return {
        image: image.slice(0, 500),
        idle: mine.filter((u) => u.phase === 'running').length,
        starting: mine.filter((u) => u.phase === 'starting').length,
      };
    });
}
