/**
 * One connected session of a standard ILP plugin as a link: our Prepares go to `plugin.sendData`, our
 * settlements (BTP TRANSFER frames from the settlement service) to `plugin.sendMoney`. What the plugin's
 * data and money handlers receive enters through `fromPeer` / `moneyFromPeer` (see PluginHost, which
 * owns the plugin and makes a new PluginLink each time it connects).
 */
import { MessageLink, PeerAnswer } from './MessageLink'
import type { IlpPlugin } from './plugin'

export class PluginLink extends MessageLink {
  constructor (private readonly plugin: IlpPlugin, private readonly accountId: string, address: () => string) {
    super(address)
  }

  protected async sendPrepare (prepare: Buffer): Promise<Buffer> {
    const reply: unknown = await this.plugin.sendData(prepare)
    if (!Buffer.isBuffer(reply)) throw new Error(`the plugin of account ${this.accountId} answered sendData with something other than a Buffer`)
    return reply
  }

  protected async sendMoney (amount: bigint): Promise<void> {
    await this.plugin.sendMoney(amount.toString())
  }
}

/** The connector's answer to the plugin's data handler: the reply packet, or an error thrown to the plugin. */
export function dataHandlerResult (answer: PeerAnswer): Buffer {
  if (answer.kind === 'ilp') return answer.packet
  throw new Error(answer.kind === 'error' ? `${answer.code} ${answer.message}` : 'unexpected empty answer to a Prepare')
}
