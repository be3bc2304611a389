import type { PublishedChange, PublishedChanges } from './dashboard-published.js';
import { Samples } from './stats.js';

/**
 * What one page's MutationObserver recorded each time the changing worker's row came to show a new state: the
 * state (`data-state`), the revision the page had applied by then (from its summary line, drawn in the same
 * render as the rows), and the page's Date.now().
 */
export interface PageObservation {
  readonly state: string;
  readonly revision: number;
  readonly atMs: number;
}

/** How the changes sent inside one window reached the pages open during it. */
export interface DashboardDelivery {
  readonly pages: number;
  /** Changes the changer sent inside the window (each page had to show every one). */
  readonly expected: number;
  /** (change, page) pairs shown, and never shown (the page drew a later state first, or nothing). */
  readonly samples: number;
  readonly missed: number;
  readonly pagesMissing: number;
  /** Page's time - bench Watch client's receive time, over every (change, page) pair shown, in ms. */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  readonly latencyMinMs: number;
}

/** Send -> bench Watch client receive (monotonic clock) over the changes sent inside one window, in ms. */
export interface PublishLatency {
  readonly changes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * The first time each change was shown on one page. A row's state at revision R is the state of the last change
 * published at or before R; an observation that disagrees means the matching is wrong, so it fails the bench
 * rather than producing a figure. A change the page never drew on its own (two flips inside one render put the row
 * back as it was) has no observation and counts as missed.
 */
function shownOnPage(
  page: number,
  observations: readonly PageObservation[],
  published: PublishedChanges,
): Map<string, number> {
  const shown = new Map<string, number>();
  for (const o of observations) {
    if (!Number.isInteger(o.revision) || o.revision < 0) {
      throw new Error(`dashboard: page ${page} drew a row with no revision in #summary (${JSON.stringify(o)})`);
    }
    const change: PublishedChange | undefined = published.atRevision(o.revision);
    if (change === undefined || change.state !== o.state) {
      throw new Error(
        `dashboard: page ${page} showed ${o.state} at revision ${o.revision}, but the last change published by ` +
          `then was ${change === undefined ? 'none' : `${change.state} at revision ${change.revision}`}`,
      );
    }
    if (!shown.has(change.key)) shown.set(change.key, o.atMs);
  }
  return shown;
}

/** Latency and completeness of `expected` (marker keys of the changes sent inside a window) over `pages`. */
export function dashboardDelivery(
  expected: readonly string[],
  published: PublishedChanges,
  pages: readonly (readonly PageObservation[])[],
): DashboardDelivery {
  const samples = new Samples(expected.length * pages.length + 1);
  let [count, missed, pagesMissing] = [0, 0, 0];
  let [latencyMaxMs, latencyMinMs] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  pages.forEach((observations, index) => {
    const shown = shownOnPage(index + 1, observations, published);
    let pageMissed = 0;
    for (const key of expected) {
      const atMs = shown.get(key);
      if (atMs === undefined) {
        pageMissed++;
        continue;
      }
      const latency = atMs - published.get(key).receivedWallMs;
      samples.add(latency);
      count++;
      latencyMaxMs = Math.max(latencyMaxMs, latency);
      latencyMinMs = Math.min(latencyMinMs, latency);
    }
    missed += pageMissed;
    if (pageMissed > 0) pagesMissing++;
  });
  const [latencyP50Ms = Number.NaN, latencyP99Ms = Number.NaN] = samples.percentiles(50, 99);
  return {
    pages: pages.length,
    expected: expected.length,
    samples: count,
    missed,
    pagesMissing,
    latencyP50Ms,
    latencyP99Ms,
    latencyMaxMs: count === 0 ? Number.NaN : latencyMaxMs,
    latencyMinMs: count === 0 ? Number.NaN : latencyMinMs,
  };
}

/** The publication path alone, for reference: every change sent inside a window, sent -> bench Watch client. */
export function publishLatency(expected: readonly string[], published: PublishedChanges): PublishLatency {
  const samples = new Samples(expected.length + 1);
  for (const key of expected) samples.add(published.get(key).sentToReceivedMs);
  const [p50Ms = Number.NaN, p99Ms = Number.NaN] = samples.percentiles(50, 99);
  return { changes: expected.length, p50Ms, p99Ms };
}
