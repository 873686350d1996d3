/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 30000,
  // End-to-end tests start real processes on loopback ports; run files one at a time to keep the 2-core machine calm.
  maxWorkers: 1
}
