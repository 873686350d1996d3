/** Pure parts of the new links: bearer tokens, HTTP answers, STREAM connection ids from addresses. */
import { bearerToken } from '../../src/transport/HttpServer'
import { httpAnswer } from '../../src/transport/HttpLink'
import { connectionOf } from '../../src/receiver/ReceiverLink'
import { missingPluginMethods } from '../../src/transport/plugin'

test('bearerToken: "Bearer <token>", the scheme in any case; anything else is no token', () => {
  expect(bearerToken('Bearer abc.def')).toBe('abc.def')
  expect(bearerToken('bearer xyz')).toBe('xyz')
  expect(bearerToken(undefined)).toBeUndefined()
  expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined()
  expect(bearerToken('Bearer')).toBeUndefined()
  expect(bearerToken('Bearer a b')).toBeUndefined()
})

test('httpAnswer: ILP packets with 200; F-refusals 400, T-refusals 503, with the code and message', () => {
  const packet = Buffer.from([14, 1, 2])
  expect(httpAnswer({ kind: 'ilp', packet })).toEqual({ status: 200, contentType: 'application/octet-stream', body: packet })
  const f = httpAnswer({ kind: 'error', code: 'F00', message: 'not a Prepare' })
  expect([f.status, f.body.toString()]).toEqual([400, 'F00 not a Prepare\n'])
  const t = httpAnswer({ kind: 'error', code: 'T00', message: 'the link closed' })
  expect([t.status, t.body.toString()]).toEqual([503, 'T00 the link closed\n'])
})

test('connectionOf: the segment right after the receiving account\'s address', () => {
  expect(connectionOf('test.r.shop.abc-DEF_1', 'test.r.shop')).toBe('abc-DEF_1')
  expect(connectionOf('test.r.shop.abc.more', 'test.r.shop')).toBe('abc')
  expect(connectionOf('test.r.shopping.abc', 'test.r.shop')).toBe('')
  expect(connectionOf('test.r.shop', 'test.r.shop')).toBe('')
})

test('missingPluginMethods names what an object lacks of the plugin interface', () => {
  expect(missingPluginMethods(null)).toHaveLength(10)
  const almost = { connect () {}, disconnect () {}, isConnected () {}, sendData () {}, sendMoney () {}, registerDataHandler () {}, deregisterDataHandler () {}, registerMoneyHandler () {}, on () {} }
  expect(missingPluginMethods(almost)).toEqual(['deregisterMoneyHandler'])
})
