/** The `--nproc-per-node` launcher: worker environment, prefixed output, failure handling and signal forwarding. */
import { spawn } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { LcmdError } from '../lib/errors';
import { launchWorkers, stripLauncherFlags, type LaunchOptions } from '../lib/launcher';

const WORKER = path.join(__dirname, 'fixtures', 'launcher-worker.js');
const LAUNCH = path.join(__dirname, 'fixtures', 'launch.js');

async function launch(options: Partial<LaunchOptions> & { argv: string[] }): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => (stdout += d));
  err.on('data', (d) => (stderr += d));
  const start = Date.now();
  const code = await launchWorkers({ nprocPerNode: 2, stdout: out, stderr: err, ...options });
  return { code, stdout, stderr, ms: Date.now() - start };
}

function linesOf(text: string, rank: number): string[] {
  const prefix = `[rank ${rank}] `;
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));
}

test('strips the launcher flags from the worker command line', () => {
  expect(stripLauncherFlags(['train', '--nproc-per-node', '2', '--data', 'x.npy', '--master-port=1234', '--nnodes', '2', '--node-rank=1', '--master-addr', 'h', '--steps', '5'])).toEqual([
    'train',
    '--data',
    'x.npy',
    '--steps',
    '5',
  ]);
});

test('sets torchrun variables per worker and forwards output line by line with the rank prefix', async () => {
  const { code, stdout, stderr } = await launch({
    nprocPerNode: 2,
    nnodes: 2,
    nodeRank: 1,
    masterAddr: '127.0.0.1',
    masterPort: 29999,
    argv: [process.execPath, WORKER, 'env'],
    env: { EXTRA: 'passed', LCMD_NUM_THREADS: '' },
  });
  expect(code).toBe(0);
  const threads = String(Math.max(1, Math.floor(os.availableParallelism() / 2)));
  for (const localRank of [0, 1]) {
    const rank = 2 + localRank; // node 1 of 2, two workers per node
    const [json, second] = linesOf(stdout, rank);
    expect(JSON.parse(json)).toEqual({
      RANK: String(rank),
      WORLD_SIZE: '4',
      LOCAL_RANK: String(localRank),
      LOCAL_WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: '29999',
      GROUP_RANK: '1',
      LCMD_NUM_THREADS: threads,
      OMP_WAIT_POLICY: expect.any(String),
      EXTRA: 'passed',
    });
    expect(second).toBe('second line');
    expect(linesOf(stderr, rank)).toEqual([`stderr of ${rank}`]);
  }
});

test('picks a free port on one node when none is given', async () => {
  const { code, stdout } = await launch({ argv: [process.execPath, WORKER, 'env'] });
  expect(code).toBe(0);
  const ports = [0, 1].map((r) => JSON.parse(linesOf(stdout, r)[0]).MASTER_PORT);
  expect(Number(ports[0])).toBeGreaterThan(0);
  expect(ports[1]).toBe(ports[0]);
});

test('a failing worker stops the others and the launcher exits non-zero naming its rank', async () => {
  const { code, stderr, ms } = await launch({ argv: [process.execPath, WORKER, 'fail', '1'] });
  expect(code).toBe(3);
  expect(stderr).toMatch(/rank 1 \(pid \d+\) exited with code 3; stopping the other 1 workers/);
  expect(stderr).toMatch(/failed: rank 1/);
  expect(ms).toBeLessThan(10000); // the waiting rank 0 was terminated, not waited for (60 s)
});

test('workers that ignore SIGTERM are killed after the grace period', async () => {
  const { code, stdout, stderr, ms } = await launch({ argv: [process.execPath, WORKER, 'stubborn'], graceSeconds: 1 });
  expect(code).toBe(4);
  expect(linesOf(stdout, 0)).toContain('ignoring SIGTERM');
  expect(stderr).toMatch(/rank 1 .* exited with code 4/);
  expect(ms).toBeLessThan(10000);
});

test('SIGINT to the launcher reaches every worker once, and they exit cleanly', async () => {
  const options = { nprocPerNode: 2, argv: [process.execPath, WORKER, 'interrupt'] };
  const child = spawn(process.execPath, [LAUNCH, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (d) => {
      stdout += d;
      if (linesOf(stdout, 0).includes('ready') && linesOf(stdout, 1).includes('ready')) resolve();
    }),
  );
  await ready;
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  expect(stderr).toMatch(/SIGINT received, forwarding it to 2 workers/);
  expect(linesOf(stdout, 0).filter((l) => l === 'checkpointed')).toHaveLength(1);
  expect(linesOf(stdout, 1).filter((l) => l === 'checkpointed')).toHaveLength(1);
  expect(code).toBe(130); // interrupted, even though the workers exited cleanly
});

test.each([
  [{ nprocPerNode: 0 }, /expected a positive integer for --nproc-per-node, got 0/],
  [{ nnodes: 2, nodeRank: 0 }, /--master-addr is required with --nnodes 2/],
  [{ nnodes: 2, nodeRank: 2, masterAddr: 'h' }, /expected an integer in \[0, 1\] for --node-rank, got 2/],
  [{ masterPort: 70000 }, /expected an integer in \[1, 65535\] for --master-port, got 70000/],
  [{ argv: [] }, /worker command line/],
])('rejects bad options %j', async (bad, message) => {
  const options = { nprocPerNode: 2, argv: [process.execPath, WORKER, 'env'], ...bad } as LaunchOptions;
  const error = await launchWorkers(options).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(LcmdError);
  expect((error as LcmdError).code).toBe('E_USAGE');
  expect((error as LcmdError).message).toMatch(message);
});

test('a worker that cannot be started fails the launch', async () => {
  const { code, stderr } = await launch({ argv: [path.join(__dirname, 'fixtures', 'no-such-program')] });
  expect(code).not.toBe(0);
  expect(stderr).toMatch(/rank \d could not be started/);
});
