/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/helpers/globalSetup.js',
  // End-to-end tests start real processes on loopback ports; run files one at a time to keep the 2-core machine calm.
  maxWorkers: 1,
  // ilp-plugin-btp (the real client the end-to-end tests use) leaves 20 s heartbeat timers and 35 s
  // request timers behind after disconnect(); without this, jest waits for them after the last test.
  forceExit: true
}
