import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { ServerTls } from '../server/queen-server.js';
import { checkEtcdClientCert } from './etcd-settings.js';

/** Reads one PEM file, or returns a problem naming the flag and the path. */
function readPem(flag: string, path: string, problems: string[]): Buffer | undefined {
  try {
    const pem = readFileSync(path);
    if (!pem.includes('-----BEGIN ')) {
      problems.push(`${flag}: ${JSON.stringify(path)} is not a PEM file (no -----BEGIN line)`);
      return undefined;
    }
    return pem;
  } catch (error) {
    problems.push(`${flag}: cannot read ${JSON.stringify(path)} (${error instanceof Error ? error.message : String(error)})`);
    return undefined;
  }
}

/** The server's TLS material from `serve`'s --tls-* paths ('' = off), or every problem. */
export function serverTls(
  paths: { readonly tlsCertPath: string; readonly tlsKeyPath: string; readonly tlsClientCaPath: string },
  problems: string[],
): ServerTls | undefined {
  if (paths.tlsCertPath === '') return undefined;
  const certChain = readPem('--tls-cert', paths.tlsCertPath, problems);
  const privateKey = readPem('--tls-key', paths.tlsKeyPath, problems);
  const clientCa = paths.tlsClientCaPath === '' ? undefined : readPem('--tls-client-ca', paths.tlsClientCaPath, problems);
  if (certChain === undefined || privateKey === undefined) return undefined;
  return clientCa === undefined ? { certChain, privateKey } : { certChain, privateKey, clientCa };
}

/**
 * TLS to etcd from the --etcd-ca/--etcd-cert/--etcd-key paths ('' = not given), or every problem (a certificate
 * and its key go together); undefined when none is given.
 */
export function etcdTls(
  paths: { readonly etcdCaPath: string; readonly etcdCertPath: string; readonly etcdKeyPath: string },
  problems: string[],
): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  const unpaired = checkEtcdClientCert(paths.etcdCertPath, paths.etcdKeyPath);
  if (unpaired !== undefined) problems.push(unpaired);
  if (paths.etcdCaPath === '' && paths.etcdCertPath === '' && paths.etcdKeyPath === '') return undefined;
  const ca = paths.etcdCaPath === '' ? undefined : readPem('--etcd-ca', paths.etcdCaPath, problems);
  const cert = paths.etcdCertPath === '' ? undefined : readPem('--etcd-cert', paths.etcdCertPath, problems);
  const key = paths.etcdKeyPath === '' ? undefined : readPem('--etcd-key', paths.etcdKeyPath, problems);
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
}

/** The --tls-* flags of the commands that connect to a queen (operator commands and the agent). */
export interface ClientTlsFlags {
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

/**
 * Channel credentials from the client flags: plaintext without any; TLS verifying the queen against --tls-ca (or
 * the system's roots); with --tls-cert and --tls-key, a client certificate for mutual TLS. Problems are appended.
 */
export function clientCredentials(flags: ClientTlsFlags, problems: string[]): ChannelCredentials | undefined {
  if (flags.tlsCa === undefined && flags.tlsCert === undefined && flags.tlsKey === undefined) {
    return credentials.createInsecure();
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    problems.push('--tls-cert and --tls-key go together: give both for a client certificate, or neither');
    return undefined;
  }
  const ca = flags.tlsCa === undefined ? null : readPem('--tls-ca', flags.tlsCa, problems);
  const cert = flags.tlsCert === undefined ? null : readPem('--tls-cert', flags.tlsCert, problems);
  const key = flags.tlsKey === undefined ? null : readPem('--tls-key', flags.tlsKey, problems);
  if (ca === undefined || cert === undefined || key === undefined) return undefined;
  return credentials.createSsl(ca, key, cert);
}
