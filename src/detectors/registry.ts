import { rateBaselineFactory } from './rate-baseline.js';
import type { DetectorFactory } from './types.js';

/** Every detector type, by the `type:` a policy names. Later detectors register here. */
export const detectorRegistry: ReadonlyMap<string, DetectorFactory<any>> = new Map(
  [rateBaselineFactory].map((f) => [f.type, f] as const),
);
