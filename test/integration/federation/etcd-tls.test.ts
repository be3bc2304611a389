// TLS to etcd: a queen reaches an etcd that serves https:// and asks for client certificates, with --etcd-ca,
// --etcd-cert and --etcd-key (here their settings), and is refused without its client certificate.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3Store } from '../../../src/federation/etcd3-store';
import { EtcdUnavailableError } from '../../../src/federation/etcd-store';
import { makeCertificates, type TestCertificates } from '../../helpers/certificates';
import { ETCD_BINARY, freePort } from '../../helpers/etcd-process';
import { FederatedQueen, until } from '../../helpers/federation';
import { wireWorker } from '../../helpers/wire-builders';

jest.setTimeout(60_000);

let certs: TestCertificates;
let dataDir: string;
let etcd: ChildProcess;
let endpoint: string;

beforeAll(async () => {
  certs = makeCertificates();
  dataDir = mkdtempSync(join(tmpdir(), 'hive-etcd-tls-'));
  const [client, peer] = [await freePort(), await freePort()];
  endpoint = `https://127.0.0.1:${client}`;
  etcd = spawn(
    ETCD_BINARY,
    [
      '--name', 't', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `t=http://127.0.0.1:${peer}`,
      '--cert-file', certs.serverCert, '--key-file', certs.serverKey,
      '--client-cert-auth', '--trusted-ca-file', certs.ca,
      '--log-level', 'error', '--logger', 'zap',
    ],
    { stdio: 'ignore' },
  );
  const probe = new Etcd3Store({ endpoints: [endpoint], timeoutMs: 1_000, tls: tlsFiles(true) });
  try {
    await until('etcd over TLS', async () => (await probe.get('probe')) === undefined, 15_000);
  } finally {
    probe.close();
  }
});

afterAll(() => {
  etcd.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(certs.dir, { recursive: true, force: true });
});

function tlsFiles(withClientCertificate: boolean): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  const ca = readFileSync(certs.ca);
  return withClientCertificate ? { ca, cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : { ca };
}

test('a queen joins over TLS with its client certificate and serves the fleet', async () => {
  const queen = await FederatedQueen.start('queen-tls', {
    endpoints: [endpoint],
    prefix: '/tls/',
    leaseTtlMs: 3_000,
    timeoutMs: 1_000,
    tls: tlsFiles(true),
  });
  try {
    await queen.connectHive('hive-1', [wireWorker('w1')]);
    expect((await queen.rpc.listQueens({})).queens.map((q) => q.queenId)).toEqual(['queen-tls']);
    await queen.catalog.registerHive({ hiveId: 'hive-2' });
    const store = new Etcd3Store({ endpoints: [endpoint], timeoutMs: 1_000, tls: tlsFiles(true) });
    try {
      await until('hive-1 in etcd', async () => (await store.get('/tls/hives/hive-1')) !== undefined);
      expect((await store.get('/tls/catalog/hives/hive-2'))?.key).toBe('/tls/catalog/hives/hive-2');
    } finally {
      store.close();
    }
  } finally {
    await queen.stop();
  }
});

test('without its client certificate etcd refuses the connection: calls fail as unavailable', async () => {
  const store = new Etcd3Store({ endpoints: [endpoint], timeoutMs: 1_000, tls: tlsFiles(false) });
  try {
    await expect(store.get('anything')).rejects.toBeInstanceOf(EtcdUnavailableError);
  } finally {
    store.close();
  }
});
