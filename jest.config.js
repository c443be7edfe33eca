// Two workers on two cores, each with one libtorch thread (test/setup-env.js): no oversubscription.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', target: 'ES2022', lib: ['ES2022', 'esnext.disposable'], types: ['node', 'jest'], esModuleInterop: true, isolatedModules: true } }] },
  setupFiles: ['<rootDir>/test/setup-env.js'],
  maxWorkers: 2,
  testTimeout: 120000,
};
