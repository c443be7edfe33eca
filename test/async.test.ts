// Async native calls: the event loop stays free, progress arrives, AbortSignal cancels promptly and cleanly.
import { withCancel } from '../lib/async';
import { native, testHooks } from '../lib/binding';
import { LcmdError } from '../lib/errors';
import type { ProgressEvent } from '../lib/native';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a long native call does not block the event loop', async () => {
  const tickMs = 10;
  const workMs = 1500;
  let ticks = 0;
  const timer = setInterval(() => ticks++, tickMs);
  const started = Date.now();
  try {
    const iterations = await testHooks().busyWork(workMs);
    expect(iterations).toBeGreaterThan(0);
  } finally {
    clearInterval(timer);
  }
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(workMs);
  // A blocked loop would give 0 or 1 ticks; allow half the ideal count for a busy 2-core machine.
  expect(ticks).toBeGreaterThanOrEqual(Math.floor(workMs / tickMs / 2));
});

test('progress events arrive in order while the work runs', async () => {
  const events: ProgressEvent[] = [];
  const iterations = await testHooks().busyWork(1000, undefined, (event) => events.push(event));
  // one event per 64 iterations; the last queued ones may land just after the promise settles
  const expected = Math.floor(iterations / 64);
  for (let waited = 0; events.length < expected && waited < 2000; waited += 20) await sleep(20);
  expect(expected).toBeGreaterThan(0);
  expect(events.length).toBe(expected); // none lost, none invented
  for (const event of events) expect(event.stage).toBe('busy');
  const counts = events.map((e) => e.iterations as number);
  for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1]);
  expect(counts[counts.length - 1]).toBeLessThanOrEqual(iterations);
});

test('a progress callback that throws does not take the process down', async () => {
  const uncaught = jest.fn();
  process.on('uncaughtException', uncaught);
  try {
    const iterations = await testHooks().busyWork(200, undefined, () => {
      throw new Error('callback failure');
    });
    await sleep(50);
    expect(iterations).toBeGreaterThan(0);
    expect(uncaught).not.toHaveBeenCalled();
  } finally {
    process.off('uncaughtException', uncaught);
  }
});

describe('cancellation through AbortSignal', () => {
  test('aborting rejects within a second with an E_ABORTED AbortError, and the native work stops', async () => {
    const controller = new AbortController();
    let progressEvents = 0;
    const call = withCancel(controller.signal, (token) => testHooks().busyWork(60000, token, () => progressEvents++));
    await sleep(200);
    const abortedAt = Date.now();
    controller.abort();
    const error = await call.then(
      () => undefined,
      (err: unknown) => err,
    );
    const latency = Date.now() - abortedAt;
    expect(error).toBeInstanceOf(LcmdError);
    expect((error as LcmdError).code).toBe('E_ABORTED');
    expect((error as LcmdError).name).toBe('AbortError');
    expect(latency).toBeLessThan(1000);

    // Nothing left behind: no more progress from the cancelled work, and the next call runs normally.
    await sleep(100);
    const seen = progressEvents;
    await sleep(300);
    expect(progressEvents).toBe(seen);
    const started = Date.now();
    expect(await testHooks().busyWork(100)).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('the abort reason appears in the message', async () => {
    const controller = new AbortController();
    const call = withCancel(controller.signal, (token) => testHooks().busyWork(60000, token));
    setTimeout(() => controller.abort(new Error('user pressed stop')), 50);
    await expect(call).rejects.toMatchObject({ code: 'E_ABORTED', name: 'AbortError', message: expect.stringMatching(/user pressed stop/) });
  });

  test('an already aborted signal rejects without starting the work', async () => {
    const controller = new AbortController();
    controller.abort();
    const start = jest.fn((token: unknown) => testHooks().busyWork(60000, token as never));
    await expect(withCancel(controller.signal, start)).rejects.toMatchObject({ code: 'E_ABORTED', name: 'AbortError' });
    expect(start).not.toHaveBeenCalled();
  });

  test('a cancel token cancelled before the call stops it at the first check', async () => {
    const token = new (native().CancelToken)();
    token.cancel();
    expect(token.isCancelled()).toBe(true);
    const started = Date.now();
    await expect(testHooks().busyWork(60000, token)).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('without a signal the call completes', async () => {
    await expect(withCancel(undefined, (token) => testHooks().busyWork(50, token))).resolves.toBeGreaterThan(0);
  });
});
