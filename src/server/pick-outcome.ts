import { DomainError } from '../common/domain-error.js';
import { quote } from '../registry/ids.js';
import type { Pick, PickRequest } from '../scheduler/pick-worker.js';

// What a pick that found no worker means, in words: FindBestWorkerForModel's error and the dashboard's answer
// say the same thing.

function selectorText(selector: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(selector ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** A pick that found no worker, as the DomainError the status table maps. */
export function noPick(pick: Exclude<Pick, { kind: 'picked' }>, request: PickRequest): DomainError {
  const model = quote(request.modelId);
  switch (pick.kind) {
    case 'no_capacity':
      return new DomainError(
        'no_capacity',
        `no idle worker for model ${model}: ${pick.busy} of ${pick.eligible} eligible workers are busy, loading, fully reserved or excluded after failures; retry later`,
      );
    case 'no_vram_fit':
      return new DomainError(
        'no_capacity',
        `min_vram_bytes: no idle worker has model ${model} loaded, and none without it has ${pick.askedBytes} bytes of VRAM free on its device; the most free is ${pick.mostFreeBytes} bytes`,
      );
    case 'no_selector_match':
      return new DomainError('unavailable', `selector: no online hive with workers has the labels ${selectorText(request.selector)}`);
    case 'unavailable':
      return new DomainError(
        'unavailable',
        pick.eligible === 0
          ? `no eligible worker for model ${model}: no worker on an online hive is healthy and schedulable (not degraded, not cordoned)`
          : `no eligible worker for model ${model}: none of the ${pick.eligible} healthy workers on online hives is idle, busy or loading`,
      );
  }
}
