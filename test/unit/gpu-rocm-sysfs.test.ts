import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocmSysfsSource } from '../../src/agent/engines/rocm-sysfs';

/** A fake /sys/class/drm: `files` maps paths under the root to their contents (sysfs values end in a newline). */
function drmTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'fake-drm-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const roots: string[] = [];
afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

function source(files: Record<string, string>): RocmSysfsSource {
  const root = drmTree(files);
  roots.push(root);
  return new RocmSysfsSource({ root });
}

describe('RocmSysfsSource', () => {
  test('AMD cards with VRAM figures, by card number; connectors, render nodes and other vendors skipped', async () => {
    const snapshot = await source({
      // An integrated Intel GPU is card0: the AMD ones keep their own numbers.
      'card0/device/vendor': '0x8086\n',
      'card0/device/mem_info_vram_total': '1\n',
      'card0-DP-1/device/vendor': '0x1002\n',
      'card0-DP-1/device/mem_info_vram_total': '5\n',
      'renderD128/device/vendor': '0x1002\n',
      'card1/device/vendor': '0x1002\n',
      'card1/device/device': '0x740f\n',
      'card1/device/product_name': 'AMD Instinct MI210\n',
      'card1/device/mem_info_vram_total': '68702699520\n',
      'card1/device/mem_info_vram_used': '10838016\n',
      'card1/device/gpu_busy_percent': '37\n',
      'card10/device/vendor': '0x1002\n',
      'card10/device/device': '0x744c\n',
      'card10/device/mem_info_vram_total': '25753026560\n',
      'card10/device/gpu_busy_percent': '0\n',
      'card2/device/vendor': '0x1002\n',
      'card2/device/device': '0x73bf\n',
      'card2/device/mem_info_vram_total': '17163091968\n',
      'card2/device/mem_info_vram_used': '402653184\n',
      // An APU without the VRAM files: nothing to report.
      'card3/device/vendor': '0x1002\n',
      'card3/device/gpu_busy_percent': '4\n',
    }).read();
    expect(snapshot).toStrictEqual({
      devices: [
        {
          index: 1,
          name: 'AMD Instinct MI210',
          backend: 'rocm',
          vramTotalBytes: 68702699520,
          vramUsedBytes: 10838016,
          utilizationPercent: 37,
        },
        { index: 2, name: 'AMD GPU 0x73bf', backend: 'rocm', vramTotalBytes: 17163091968, vramUsedBytes: 402653184 },
        { index: 10, name: 'AMD GPU 0x744c', backend: 'rocm', vramTotalBytes: 25753026560, utilizationPercent: 0 },
      ],
      processes: [],
    });
  });

  test('unreadable or odd values are absent, not fatal', async () => {
    const snapshot = await source({
      'card0/device/vendor': '0x1002\n',
      'card0/device/mem_info_vram_total': '1024\n',
      'card0/device/mem_info_vram_used': 'busy\n',
      'card0/device/gpu_busy_percent': '250\n',
      'card0/device/product_name': '\n',
    }).read();
    expect(snapshot.devices).toStrictEqual([{ index: 0, name: 'AMD GPU', backend: 'rocm', vramTotalBytes: 1024 }]);
  });

  test('no AMD card is an empty snapshot; a missing directory rejects naming it', async () => {
    await expect(source({ 'card0/device/vendor': '0x10de\n' }).read()).resolves.toStrictEqual({ devices: [], processes: [] });
    const missing = join(tmpdir(), 'no-such-drm-dir', 'drm');
    await expect(new RocmSysfsSource({ root: missing }).read()).rejects.toThrow(`rocm-sysfs: cannot list ${missing}: ENOENT`);
  });

  test('a fresh read sees new figures', async () => {
    const root = drmTree({
      'card0/device/vendor': '0x1002\n',
      'card0/device/mem_info_vram_total': '100\n',
      'card0/device/gpu_busy_percent': '5\n',
    });
    roots.push(root);
    const rocm = new RocmSysfsSource({ root });
    expect((await rocm.read()).devices[0]?.utilizationPercent).toBe(5);
    writeFileSync(join(root, 'card0/device/gpu_busy_percent'), '88\n');
    expect((await rocm.read()).devices[0]?.utilizationPercent).toBe(88);
    expect(rocm.name).toBe('rocm-sysfs');
  });
});
