// The gateway's options as the queen builds them from its configuration.
import { gatewayOptions } from '../../src/server/http-side';
import { TEST_CONFIG } from '../helpers/queen';

describe('gatewayOptions', () => {
  test('prefix affinity on: its block size, cache size and slack go to the gateway', () => {
    const options = gatewayOptions({
      ...TEST_CONFIG,
      gatewayPrefixAffinity: true,
      gatewayPrefixBlockBytes: 512,
      gatewayPrefixCacheKeys: 2_000,
      gatewayAffinitySlack: 0.5,
    });
    expect(options.prefixAffinity).toEqual({ blockBytes: 512, cacheKeys: 2_000, slack: 0.5 });
    expect(options).toMatchObject({ queueTimeoutMs: 30_000, connectTimeoutMs: 5_000, responseTimeoutMs: 600_000, maxBodyBytes: 16_777_216 });
  });

  test('prefix affinity off: no prefixAffinity at all, whatever its other settings', () => {
    const options = gatewayOptions({ ...TEST_CONFIG, gatewayPrefixAffinity: false, gatewayPrefixBlockBytes: 512 });
    expect('prefixAffinity' in options).toBe(false);
  });
});
