import type { Exchange } from '../request/exchange.js';
import type { DetectorBase } from './types.js';

/** Whether a detector applies to an exchange's endpoint group (its `endpoints:` list; all when unset). */
export function appliesTo(config: DetectorBase, x: Exchange): boolean {
  return config.endpoints === null || config.endpoints.includes(x.endpoint.group);
}
