// End-to-end tests run the real connector process (`node dist/src/main.js`): build it once first.
const { execFileSync } = require('child_process')
const path = require('path')

module.exports = async () => {
  const root = path.join(__dirname, '..', '..')
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
}
