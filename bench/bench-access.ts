// The production variant of the network scenarios: the queen with authentication, its HTTP listener (so its metrics
// count every call) and a Watch client. The queen child issues the tokens and writes them to a file; each load
// generator reads it and sends its calls with them, as real hives and clients would.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Metadata } from '@grpc/grpc-js';
import { WatchEventType, WatchRequestSchema, type WatchEvent } from '../gen/hive/v1/registry_pb.js';
import type { Catalog } from '../src/catalog/catalog.js';
import { hiveId } from './fleet.js';
import { openClient, openWatch } from './registry-client.js';

/** What a load generator needs against the production variant: a `read` caller's token and one token per hive. */
export interface BenchAccess {
  readonly callerToken: string;
  /** hiveTokens[i] opens hive i's Heartbeat stream (hive ids as fleet.ts names them). */
  readonly hiveTokens: readonly string[];
}

/** Hives the production queen issues tokens for: every hive a network scenario uses. */
export const ACCESS_HIVES = 1_000;

/** Writes an auth file with one `read` caller into `folder`; returns its path and the caller's token. */
export function writeAuthFile(folder: string): { path: string; callerToken: string } {
  const callerToken = randomBytes(24).toString('base64url');
  const path = join(folder, 'auth.json');
  const tokenSha256 = createHash('sha256').update(callerToken).digest('hex');
  writeFileSync(path, `${JSON.stringify({ callers: [{ name: 'bench', role: 'read', token_sha256: tokenSha256 }] })}\n`, { mode: 0o600 });
  return { path, callerToken };
}

/** Registers hives 0..ACCESS_HIVES-1 in the catalog, issues a token for each, and writes the access file. */
export async function issueAccess(catalog: Catalog, callerToken: string, folder: string): Promise<string> {
  const hiveTokens: string[] = [];
  for (let i = 0; i < ACCESS_HIVES; i++) {
    await catalog.register(hiveId(i), {}, '');
    hiveTokens.push((await catalog.issueToken(hiveId(i))).token);
  }
  const path = join(folder, 'access.json');
  writeFileSync(path, JSON.stringify({ callerToken, hiveTokens } satisfies BenchAccess), { mode: 0o600 });
  return path;
}

/** The access file at `path`, or undefined (the queen runs without auth). */
export function readAccess(path: string | undefined): BenchAccess | undefined {
  return path === undefined ? undefined : (JSON.parse(readFileSync(path, 'utf8')) as BenchAccess);
}

/** Metadata carrying `token` as a bearer token; empty without one. */
export function bearer(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** Hive `index`'s stream metadata. */
export function hiveMetadata(access: BenchAccess | undefined, index: number): Metadata {
  if (access === undefined) return bearer(undefined);
  const token = access.hiveTokens[index];
  if (token === undefined) throw new Error(`no token for hive ${index}: the production queen issues ${access.hiveTokens.length}`);
  return bearer(token);
}

/** How long the watcher may take to receive the fleet's snapshot. */
const WATCH_SYNC_TIMEOUT_MS = 30_000;

/**
 * One Watch client on the whole fleet, with the caller's token, reading every event until closed: the production
 * variant's watcher (its own connection, as a separate client application would have). Resolves once the fleet's
 * snapshot has arrived (SYNCED), so its one-off delivery stays out of the measured window.
 */
export async function openWatcher(address: string, access: BenchAccess): Promise<{ readonly close: () => void }> {
  const client = openClient(address, true);
  const call = openWatch(client, create(WatchRequestSchema, {}), bearer(access.callerToken));
  const close = (): void => {
    call.cancel();
    client.close();
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`watcher: no SYNCED within ${WATCH_SYNC_TIMEOUT_MS} ms`)), WATCH_SYNC_TIMEOUT_MS);
    call.on('data', (event: WatchEvent) => {
      if (event.type === WatchEventType.SYNCED) {
        clearTimeout(timer);
        resolve();
      }
    });
    call.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(new Error(`watcher: ${error.message}`));
    });
  }).catch((error: unknown) => {
    close();
    throw error;
  });
  return { close };
}
