import { create, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import {
  FindBestWorkerForModelRequestSchema,
  FindBestWorkerForModelResponseSchema,
  GetHiveStateRequestSchema,
  GetHiveStateResponseSchema,
} from '../gen/hive/v1/registry_pb.js';
import { SCHEDULED_MODEL, hiveId } from './fleet.js';
import type { LoadEvent, LoadResult, UnaryLoadSpec } from './protocol.js';
import { bearer, readAccess } from './bench-access.js';
import { openClient, unaryMethod } from './registry-client.js';
import { loadResult, measureWindow, nowMs, Samples, sleep } from './stats.js';

const MAX_SAMPLES = 1_000_000;
/** A call that takes longer fails instead of hanging the run. */
const DEADLINE_MS = 5_000;

type Phase = 'warmup' | 'measure' | 'stopping';

/**
 * Keeps `spec.inFlight` calls of one unary method outstanding on one channel (as one client application would)
 * and counts the calls that complete inside the measurement window. Every call must succeed with OK.
 */
export async function runUnaryLoad(spec: UnaryLoadSpec, say: (event: LoadEvent) => void): Promise<LoadResult> {
  const client = openClient(spec.address, false);
  const call = unaryMethod(client, spec.method, bearer(readAccess(spec.access)?.callerToken));
  const responseSchema: DescMessage =
    spec.method === 'getHiveState' ? GetHiveStateResponseSchema : FindBestWorkerForModelResponseSchema;
  // Requests are built up front: the load generator's own cost per call stays the same for every server.
  const requests: Message[] =
    spec.method === 'getHiveState'
      ? Array.from({ length: spec.hives }, (_, i) => create(GetHiveStateRequestSchema, { hiveId: hiveId(i) }))
      : [create(FindBestWorkerForModelRequestSchema, { modelId: SCHEDULED_MODEL })];

  const samples = new Samples(MAX_SAMPLES);
  let phase: Phase = 'warmup';
  let ops = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  let messageBytes = 0;
  let outstanding = 0;
  let next = 0;

  const issue = (): void => {
    const request = requests[next++ % requests.length];
    const sentAt = nowMs();
    outstanding++;
    call(request, DEADLINE_MS, (error, response) => {
      outstanding--;
      if (error) {
        failures++;
        firstFailure ??= `${status[error.code]}: ${error.details}`;
      } else {
        if (messageBytes === 0 && response !== undefined) {
          messageBytes = toBinary(responseSchema, response as Message).byteLength;
        }
        if (phase === 'measure') {
          ops++;
          samples.add(nowMs() - sentAt);
        }
      }
      if (phase !== 'stopping') issue();
    });
  };
  for (let n = 0; n < spec.inFlight; n++) issue();

  const { elapsedMs, cpu } = await measureWindow(spec, say, (next) => {
    phase = next;
  });

  const drainUntil = nowMs() + DEADLINE_MS;
  while (outstanding > 0 && nowMs() < drainUntil) await sleep(20);
  client.close();

  return loadResult({ ops, elapsedMs, cpu, failures, firstFailure, samples, messageBytes });
}
