import { connect } from 'node:net';
import fc from 'fast-check';

/** What a client must send first on an HTTP/2 connection without TLS (RFC 9113, 3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One HTTP/2 frame: 9-byte header (24-bit length, type, flags, 31-bit stream id), then the payload. */
function frame(type: number, flags: number, streamId: number, payload: Uint8Array, declaredLength?: number): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE((declaredLength ?? payload.length) & 0xff_ffff, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId >>> 1, 5); // a 31-bit id, whatever the reserved bit
  return Buffer.concat([header, payload]);
}

/**
 * Frames a fuzzer would send: any type (known ones weighted up: DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE,
 * PING, GOAWAY, WINDOW_UPDATE, CONTINUATION), any flags and stream id, a payload, and a length that may lie.
 */
const garbageFrame: fc.Arbitrary<Buffer> = fc
  .record({
    type: fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 6, 7, 8, 9), fc.integer({ min: 0, max: 255 })),
    flags: fc.integer({ min: 0, max: 255 }),
    streamId: fc.oneof(fc.constantFrom(0, 1, 3, 2), fc.nat()),
    payload: fc.uint8Array({ maxLength: 64 }),
    lie: fc.option(fc.integer({ min: 0, max: 0xff_ffff }), { nil: undefined }),
  })
  .map(({ type, flags, streamId, payload, lie }) => frame(type, flags, streamId, payload, lie));

/** An empty SETTINGS frame: what a real client sends right after the preface. */
const SETTINGS = frame(4, 0, 0, new Uint8Array());

/** Byte sequences sent to the server's TCP port, each as the chunks written one after another. */
export const tcpGarbage: fc.Arbitrary<{ readonly kind: string; readonly chunks: readonly Buffer[] }> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => ({ kind: 'random bytes', chunks: [Buffer.from(bytes)] })),
  fc
    .integer({ min: 1, max: HTTP2_PREFACE.length - 1 })
    .map((n) => ({ kind: 'truncated preface', chunks: [HTTP2_PREFACE.subarray(0, n)] })),
  fc
    .array(garbageFrame, { minLength: 1, maxLength: 6 })
    .map((frames) => ({ kind: 'preface + garbage frames', chunks: [HTTP2_PREFACE, ...frames] })),
  fc
    .array(garbageFrame, { minLength: 1, maxLength: 6 })
    .map((frames) => ({ kind: 'preface + SETTINGS + garbage frames', chunks: [HTTP2_PREFACE, SETTINGS, ...frames] })),
  fc
    .uint8Array({ minLength: 1, maxLength: 256 })
    .map((bytes) => ({ kind: 'preface + random bytes', chunks: [HTTP2_PREFACE, Buffer.from(bytes)] })),
  fc
    .constantFrom(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
      'POST /hive.v1.HiveRegistry/GetWorker HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0',
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
      'CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n',
    )
    .map((request) => ({ kind: 'HTTP/1.1 request', chunks: [Buffer.from(request, 'latin1')] })),
);

/**
 * Opens a TCP connection to 127.0.0.1:`port`, writes `chunks`, and waits until the server closes the connection or
 * `waitMs` pass; then closes it. Resolves with whether the server closed first and how many bytes it sent.
 */
export function sendRawTcp(
  port: number,
  chunks: readonly Buffer[],
  waitMs: number,
): Promise<{ closedByServer: boolean; bytesReceived: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let bytesReceived = 0;
    let closedByServer = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closedByServer, bytesReceived });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (data: Buffer) => {
      bytesReceived += data.length;
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('close', finish);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset from the server is one way of refusing garbage; only failing to connect is the test's problem.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
        closedByServer = true;
        finish();
      } else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
    });
  });
}
