import type { ICompare, IKeyValue, IRequestOp } from 'etcd3/lib/rpc.js';
import { EtcdUnavailableError, prefixEnd, type EtcdCompare, type EtcdEntry, type EtcdOp } from './etcd-store.js';

// Our etcd values to and from etcd3's raw request and response shapes.

const COMPARE_RESULT = { '=': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

export function entryOf(kv: IKeyValue): EtcdEntry {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value,
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
    lease: kv.lease,
  };
}

export function unavailable(what: string, error: unknown): EtcdUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new EtcdUnavailableError(`etcd ${what}: ${reason}`, { cause: error });
}

export function compareOf(compare: EtcdCompare): ICompare {
  const key = Buffer.from(compare.key, 'utf8');
  const result = COMPARE_RESULT[compare.op];
  switch (compare.target) {
    case 'create':
      return { key, result, target: 'Create', create_revision: compare.revision.toString() };
    case 'mod':
      return { key, result, target: 'Mod', mod_revision: compare.revision.toString() };
    case 'value':
      return { key, result, target: 'Value', value: Buffer.from(compare.value) };
    case 'lease':
      return { key, result, target: 'Lease', lease: compare.lease };
  }
}

export function opOf(op: EtcdOp): IRequestOp {
  if ('put' in op) {
    return {
      request_put: {
        key: Buffer.from(op.put, 'utf8'),
        value: Buffer.from(op.value),
        ...(op.lease === undefined ? {} : { lease: op.lease }),
      },
    };
  }
  if ('delete' in op) return { request_delete_range: { key: Buffer.from(op.delete, 'utf8') } };
  if ('deletePrefix' in op) {
    return { request_delete_range: { key: Buffer.from(op.deletePrefix, 'utf8'), range_end: prefixEnd(op.deletePrefix) } };
  }
  return { request_range: { key: Buffer.from(op.get, 'utf8') } };
}
