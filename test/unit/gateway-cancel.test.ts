// Cancel, the gateway request's cancellation: AbortController's contract without its EventTarget.
import { Cancel } from '../../src/gateway/cancel';

test('Cancel: each listener registered at the time is called once; one removed, or added after, is not', () => {
  const cancel = new Cancel();
  const calls: string[] = [];
  const kept = (): void => {
    calls.push('kept');
  };
  const removed = (): void => {
    calls.push('removed');
  };
  cancel.addEventListener('abort', kept, { once: true });
  cancel.addEventListener('abort', removed);
  cancel.removeEventListener('abort', removed);
  expect(cancel.aborted).toBe(false);
  cancel.abort();
  cancel.abort();
  cancel.addEventListener('abort', () => calls.push('late'));
  expect({ aborted: cancel.aborted, calls }).toEqual({ aborted: true, calls: ['kept'] });
});
