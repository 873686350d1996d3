/**
 * Starts the real connector process, as an operator would (`node dist/src/main.js`), in a fresh
 * working directory (so `./data` is its own), with env overrides. Listener ports are 0 (any free
 * port) unless set; the bound ports are read from the "connector started" log line.
 */
import { spawn, ChildProcess } from 'child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import path from 'path'

export const ROOT = path.join(__dirname, '..', '..')
export const MAIN = path.join(ROOT, 'dist', 'src', 'main.js')

export interface LogLine { level: number; msg: string; [key: string]: unknown }

export interface RunningConnector {
  proc: ChildProcess
  cwd: string
  /** Bound port of each listener. */
  ports: Record<string, number>
  logs: LogLine[]
  stderr: string[]
  /** `btp+ws://:TOKEN@127.0.0.1:PORT` for a listener (default: "default"). */
  url: (token: string, listener?: string) => string
  /** Sends a signal and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
  exited: Promise<number | null>
}

export interface StartOptions {
  env?: Record<string, string>
  /** A config object written to a file and passed with --config. */
  config?: unknown
  args?: string[]
  cwd?: string
}

// Whatever a test file starts is gone when its jest worker exits, even if the test failed or timed out:
// connector processes are killed and temporary directories removed.
const children = new Set<ChildProcess>()
const dirs = new Set<string>()
function cleanUp (): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  dirs.clear()
}
// After the test file's own afterAll hooks (jest runs them in reverse order of registration)...
afterAll(cleanUp)
// ...and should the worker die first.
process.on('exit', cleanUp)

export function tempDir (): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'metamorphosis-test-'))
  dirs.add(dir)
  return dir
}

function track<T extends ChildProcess> (child: T): T {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export async function startConnector (options: StartOptions = {}): Promise<RunningConnector> {
  const cwd = options.cwd ?? tempDir()
  // Run as `npm start` runs it (package.json).
  const args = ['--max-semi-space-size=4', MAIN, ...(options.args ?? [])]
  if (options.config !== undefined) {
    const file = path.join(cwd, 'config.json')
    writeFileSync(file, JSON.stringify(options.config, null, 2))
    args.push('--config', file)
  }
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', METAMORPHOSIS_LOG__LEVEL: 'info', ...options.env }
  if (options.config === undefined && env.METAMORPHOSIS_LISTENERS__DEFAULT__PORT === undefined) env.METAMORPHOSIS_LISTENERS__DEFAULT__PORT = '0'
  const proc = track(spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  const logs: LogLine[] = []
  const stderr: string[] = []
  const exited = new Promise<number | null>(resolve => proc.once('exit', (code) => resolve(code)))
  let ports: Record<string, number> | undefined
  const started = new Promise<void>((resolve, reject) => {
    let buffered = ''
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        try {
          const parsed = JSON.parse(line) as LogLine
          logs.push(parsed)
          if (parsed.msg === 'connector started') {
            ports = parsed.listeners as Record<string, number>
            resolve()
          }
        } catch {
          stderr.push(line)
        }
      }
    })
    proc.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()))
    void exited.then(code => reject(new Error(`connector exited with ${code} before starting:\n${stderr.join('')}\n${logs.map(l => JSON.stringify(l)).join('\n')}`)))
  })
  const timeout = setTimeout(() => proc.kill('SIGKILL'), 20000)
  try {
    await started
  } finally {
    clearTimeout(timeout)
  }
  const bound = ports as Record<string, number>
  return {
    proc,
    cwd,
    ports: bound,
    logs,
    stderr,
    exited,
    url: (token, listener = 'default') => `btp+ws://:${encodeURIComponent(token)}@127.0.0.1:${bound[listener]}`,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return await exited
    }
  }
}

export interface ForeignConnector {
  proc: ChildProcess
  stderr: string[]
  stop: () => Promise<void>
}

/**
 * Starts the npm `ilp-connector` (the reference connector, a devDependency) in its own process with
 * these options (its createApp() options), for interop tests. Cleaned up like our own processes.
 */
export async function startIlpConnector (options: unknown): Promise<ForeignConnector> {
  const script = path.join(__dirname, 'ilp-connector-run.js')
  const proc = track(spawn(process.execPath, [script, JSON.stringify(options)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DEBUG: process.env.ILP_CONNECTOR_DEBUG ?? '' },
    stdio: ['ignore', 'pipe', 'pipe']
  }))
  const stderr: string[] = []
  proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()))
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => { if (c.toString().includes('"listening"')) resolve() })
    void exited.then(() => reject(new Error(`ilp-connector exited before listening:\n${stderr.join('')}`)))
  })
  return {
    proc,
    stderr,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    }
  }
}

/** Runs the connector binary to completion (for config errors, --help, --check). */
export async function runConnector (args: string[], env: Record<string, string> = {}, cwd = tempDir()): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = track(spawn(process.execPath, [MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15000)
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, close). */
export async function freePort (): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require('net') as typeof import('net')
  return await new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Polls `fn` until it returns something other than undefined, or throws after `timeoutMs`. */
export async function eventually<T> (fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
