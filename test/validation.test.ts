// The shared checks of lib/validation.ts: one message form ("expected WHAT for NAME, got VALUE") and the caller's code.
import { LcmdError } from '../lib/errors';
import { describe as describeValue, integerInRange, nonNegativeInteger, positiveInteger, positiveNumber } from '../lib/validation';

function failure(fn: () => void): LcmdError {
  try {
    fn();
  } catch (err) {
    return err as LcmdError;
  }
  throw new Error('expected the check to fail');
}

test('each check names the option, what was expected and what was received', () => {
  const cases: [() => void, string][] = [
    [() => positiveInteger(-3, 'batchSize'), 'expected a positive integer for batchSize, got -3'],
    [() => positiveInteger(1.5, 'steps'), 'expected a positive integer for steps, got 1.5'],
    [() => nonNegativeInteger('2', 'seed'), 'expected a non-negative integer for seed, got "2"'],
    [() => integerInRange(70000, '--master-port', 1, 65535), 'expected an integer in [1, 65535] for --master-port, got 70000'],
    [() => positiveNumber(Number.NaN, 'lr'), 'expected a positive number for lr, got NaN'],
  ];
  for (const [fn, message] of cases) {
    const err = failure(fn);
    expect(err).toBeInstanceOf(LcmdError);
    expect(err.code).toBe('E_RANGE');
    expect(err.message).toBe(message);
  }
});

test('the caller chooses the error code', () => {
  expect(failure(() => positiveInteger(0, '--nnodes', 'E_USAGE')).code).toBe('E_USAGE');
});

test('valid values pass', () => {
  expect(() => positiveInteger(1, 'n')).not.toThrow();
  expect(() => nonNegativeInteger(0, 'n')).not.toThrow();
  expect(() => integerInRange(5, 'n', 5, 5)).not.toThrow();
  expect(() => positiveNumber(1e-9, 'x')).not.toThrow();
});

test('received values are described by kind and size', () => {
  expect(describeValue(null)).toBe('null');
  expect(describeValue(undefined)).toBe('undefined');
  expect(describeValue('a')).toBe('"a"');
  expect(describeValue([1, 2])).toBe('an array of length 2');
  expect(describeValue(new Float32Array(3))).toBe('a Float32Array of length 3');
  expect(describeValue({ dtype: 'int64', shape: [2, 3] })).toBe('a int64 tensor of shape [2, 3]');
  expect(describeValue({})).toBe('an object');
});
