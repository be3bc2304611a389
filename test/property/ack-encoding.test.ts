// The hand-written HeartbeatAck encoder writes exactly the bytes of protobuf-es's encoder, for any ack.
import { create, toBinary } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { HeartbeatAckSchema } from '../../gen/hive/v1/registry_pb';
import { AckEncoder } from '../../src/server/ack-encoding';
import { propertyParams } from '../helpers/property-params';

function plain(sequence: bigint, accepted: boolean, error: string, intervalMs: number, receivedWallMs: number): Buffer {
  return Buffer.from(
    toBinary(
      HeartbeatAckSchema,
      create(HeartbeatAckSchema, {
        sequence,
        accepted,
        error,
        heartbeatInterval: durationFromMs(intervalMs),
        receivedAt: timestampFromMs(Math.floor(receivedWallMs)),
      }),
    ),
  );
}

describe('AckEncoder', () => {
  it('writes the bytes of the plain encoder', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.bigInt({ min: 0n, max: 1_000_000n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
        fc.boolean(),
        fc.oneof(fc.constant(''), fc.string({ unit: 'binary', maxLength: 300 })),
        fc.oneof(fc.constantFrom(1, 999, 1_000, 5_000), fc.integer({ min: 1, max: 3_600_000 })),
        fc.oneof(
          fc.constantFrom(0, 999, 1_000, 1_765_000_000_000, 1_765_000_000_123.9),
          fc.double({ min: -1e13, max: 8e15, noNaN: true }),
        ),
        (sequence, accepted, error, intervalMs, receivedWallMs) => {
          const encoded = new AckEncoder(intervalMs).encode({ sequence, accepted, error }, receivedWallMs);
          expect(encoded.toString('hex')).toBe(plain(sequence, accepted, error, intervalMs, receivedWallMs).toString('hex'));
        },
      ),
      propertyParams(2_000),
    );
  });
});
