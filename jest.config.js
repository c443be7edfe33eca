// Two workers on two cores, each with one libtorch thread (test/setup-env.js): no oversubscription.
// Two projects: "cpu" (test/, every machine) and "gpu" (test-gpu/: CUDA against the CPU, skipped without a GPU).
const project = (name, root) => ({
  displayName: name,
  testEnvironment: 'node',
  roots: [`<rootDir>/${root}`],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', target: 'ES2022', lib: ['ES2022', 'esnext.disposable'], types: ['node', 'jest'], esModuleInterop: true, isolatedModules: true } }] },
  setupFiles: ['<rootDir>/test/setup-env.js'],
});

module.exports = {
  projects: [project('cpu', 'test'), project('gpu', 'test-gpu')],
  maxWorkers: 2,
  testTimeout: 120000,
};
