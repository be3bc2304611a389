import { RequestBoard } from '../../src/simulator/request-board';
import { RequestSlots } from '../../src/simulator/request-slots';

describe('RequestSlots', () => {
  const live = (): AbortSignal => new AbortController().signal;

  test('at most `limit` at once; the others are admitted in arrival order as slots come back', async () => {
    const slots = new RequestSlots(2);
    const admitted: string[] = [];
    const ask = (name: string, signal = live()): Promise<void> =>
      slots.acquire(signal).then((ok) => {
        if (ok) admitted.push(name);
      });
    const all = ['a', 'b', 'c', 'd'].map((name) => ask(name));
    await Promise.resolve();
    expect({ admitted: [...admitted], inFlight: slots.inFlight, queued: slots.queued }).toEqual({ admitted: ['a', 'b'], inFlight: 2, queued: 2 });
    slots.release();
    await Promise.resolve();
    expect(admitted).toEqual(['a', 'b', 'c']);
    slots.release();
    slots.release();
    slots.release();
    await Promise.all(all);
    expect({ admitted, inFlight: slots.inFlight, queued: slots.queued, peak: slots.peakInFlight }).toEqual({
      admitted: ['a', 'b', 'c', 'd'],
      inFlight: 0,
      queued: 0,
      peak: 2,
    });
  });

  test('a waiter that gives up leaves the queue without taking a slot; one gone already never waits', async () => {
    const slots = new RequestSlots(1);
    expect(await slots.acquire(live())).toBe(true);
    const quitter = new AbortController();
    const quitting = slots.acquire(quitter.signal);
    const patient = slots.acquire(live());
    quitter.abort();
    expect(await quitting).toBe(false);
    expect(slots.queued).toBe(1);
    slots.release();
    expect(await patient).toBe(true);
    const gone = new AbortController();
    gone.abort();
    expect(await slots.acquire(gone.signal)).toBe(false);
    expect(slots.inFlight).toBe(1);
  });

  test('refuses a bad limit and a release without a slot', () => {
    expect(() => new RequestSlots(0)).toThrow(/^limit: must be a whole number of at least 1, got 0$/);
    expect(() => new RequestSlots(2).release()).toThrow(/no slot is held/);
  });
});

describe('RequestSlots: change signal and background requests', () => {
  const live = (): AbortSignal => new AbortController().signal;

  /** Slots whose every change is recorded as `inFlight/queued`. */
  function recorded(limit: number): { slots: RequestSlots; seen: string[] } {
    const seen: string[] = [];
    const slots: RequestSlots = new RequestSlots(limit, () => seen.push(`${slots.inFlight}/${slots.queued}`));
    return { slots, seen };
  }

  test('tells of every change once, with the counts already up to date', async () => {
    const { slots, seen } = recorded(1);
    expect(await slots.acquire(live())).toBe(true);
    const quitter = new AbortController();
    const quitting = slots.acquire(quitter.signal);
    const patient = slots.acquire(live());
    quitter.abort();
    expect(await quitting).toBe(false);
    slots.release();
    expect(await patient).toBe(true);
    slots.release();
    // Taken, two queued, one left, handed over to the patient one, given back.
    expect(seen).toEqual(['1/0', '1/1', '1/2', '1/1', '1/0', '0/0']);
  });

  test('says nothing when nothing changes: a request gone before it asks', async () => {
    const { slots, seen } = recorded(1);
    const gone = new AbortController();
    gone.abort();
    expect(await slots.acquire(gone.signal)).toBe(false);
    expect(seen).toEqual([]);
  });

  test('background requests take every free slot at once, and hold them until ended', () => {
    const { slots, seen } = recorded(4);
    const end = slots.occupy();
    expect({ inFlight: slots.inFlight, queued: slots.queued, seen }).toEqual({ inFlight: 4, queued: 0, seen: ['4/0'] });
    end();
    end();
    expect({ inFlight: slots.inFlight, queued: slots.queued, seen }).toEqual({ inFlight: 0, queued: 0, seen: ['4/0', '0/0'] });
  });

  test('background requests queue behind the waiting ones (FIFO) and take slots given back until they hold all', async () => {
    const slots = new RequestSlots(2);
    const admitted: string[] = [];
    const ask = (name: string): Promise<void> =>
      slots.acquire(live()).then((ok) => {
        if (ok) admitted.push(name);
      });
    const asked = [ask('a'), ask('b'), ask('c')];
    const end = slots.occupy();
    // a and b run, c waits, then the two background requests.
    expect({ inFlight: slots.inFlight, queued: slots.queued }).toEqual({ inFlight: 2, queued: 3 });
    slots.release(); // a: c takes its slot
    slots.release(); // b: a background request takes it
    expect({ inFlight: slots.inFlight, queued: slots.queued }).toEqual({ inFlight: 2, queued: 1 });
    const late = ask('late');
    slots.release(); // c: the second background request, ahead of the late one
    expect({ inFlight: slots.inFlight, queued: slots.queued }).toEqual({ inFlight: 2, queued: 1 });
    end();
    await Promise.all([...asked, late]);
    // The background slots went back; the late request holds one of them.
    expect({ admitted, inFlight: slots.inFlight, queued: slots.queued, peak: slots.peakInFlight }).toEqual({
      admitted: ['a', 'b', 'c', 'late'],
      inFlight: 1,
      queued: 0,
      peak: 2,
    });
  });

  test('ended while some wait: those leave the queue, the held slots go to the next requests', async () => {
    const slots = new RequestSlots(2);
    expect(await slots.acquire(live())).toBe(true);
    const end = slots.occupy();
    expect({ inFlight: slots.inFlight, queued: slots.queued }).toEqual({ inFlight: 2, queued: 1 });
    const next = slots.acquire(live());
    end();
    expect(await next).toBe(true);
    expect({ inFlight: slots.inFlight, queued: slots.queued }).toEqual({ inFlight: 2, queued: 0 });
  });
});

describe('RequestBoard', () => {
  test('counts per worker, one change signal naming the worker, unsubscribe', async () => {
    const board = new RequestBoard(['w0', 'w1'], 2);
    const seen: string[] = [];
    const stop = board.onCountsChange((id) => seen.push(`${id} ${board.countsOf(id).running}/${board.countsOf(id).waiting}`));
    const slots = board.slotsOf('w1');
    expect(await slots.acquire(new AbortController().signal)).toBe(true);
    const end = board.occupy('w0');
    expect([board.countsOf('w0'), board.countsOf('w1')]).toEqual([
      { running: 2, waiting: 0 },
      { running: 1, waiting: 0 },
    ]);
    stop();
    end();
    slots.release();
    expect(seen).toEqual(['w1 1/0', 'w0 2/0']);
    expect(board.countsOf('w0')).toEqual({ running: 0, waiting: 0 });
  });

  test('refuses a worker it does not know', () => {
    const board = new RequestBoard(['w0'], 1);
    expect(() => board.countsOf('nope')).toThrow(/^workerId: no simulated worker "nope"$/);
    expect(() => board.occupy('nope')).toThrow(RangeError);
  });
});
