import { agentRotationFactory } from './agent-rotation.js';
import { credentialStuffingFactory } from './credential-stuffing.js';
import { endpointSurgeFactory } from './endpoint-surge.js';
import { enumerationFactory } from './enumeration.js';
import { exfiltrationFactory } from './exfiltration.js';
import { fanOutFactory } from './fan-out.js';
import { formRepeatFactory } from './form-repeat.js';
import { notFoundSurgeFactory } from './not-found-surge.js';
import { pageRateFactory } from './page-rate.js';
import { rateBaselineFactory } from './rate-baseline.js';
import { scrapingFactory } from './scraping.js';
import { slowBruteForceFactory } from './slow-brute-force.js';
import type { DetectorFactory } from './types.js';

/** Every detector type, by the `type:` a policy names. Later detectors register here. */
export const detectorRegistry: ReadonlyMap<string, DetectorFactory<any>> = new Map(
  [rateBaselineFactory, enumerationFactory, credentialStuffingFactory, slowBruteForceFactory, fanOutFactory, scrapingFactory, exfiltrationFactory, endpointSurgeFactory, agentRotationFactory, formRepeatFactory, pageRateFactory, notFoundSurgeFactory].map((f) => [f.type, f] as const),
);
