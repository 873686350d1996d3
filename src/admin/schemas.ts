/**
 * Request bodies of the admin API, as TypeBox schemas built from the config schema's own pieces, so an
 * account created through the API is checked by the same rules (and named in the same words) as one in
 * the config file. Unknown fields are refused everywhere. docs/admin-api.yaml describes the same shapes.
 */
import { Type, type Static } from '@sinclair/typebox'
import {
  AccountSchema, BtpClientLinkSchema, BtpServerLinkSchema, ILP_SEGMENT_PATTERN, ILP_PREFIX_PATTERN,
  ILP_ADDRESS_MAX_LENGTH, INT_STRING_PATTERN, UINT_STRING_PATTERN
} from '../config'

const limits = AccountSchema.properties

/** A link as the API takes it: a btp-server link may omit its listener when there is one. Plugins are for the config file only. */
export const ApiLinkSchema = Type.Union([
  Type.Object({ ...BtpServerLinkSchema.properties, listener: Type.Optional(BtpServerLinkSchema.properties.listener) }, { additionalProperties: false }),
  Type.Object({ ...BtpClientLinkSchema.properties, token: Type.Optional(BtpClientLinkSchema.properties.token) }, { additionalProperties: false })
])

export const CreateAccountSchema = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: ILP_SEGMENT_PATTERN,
      errorMessage: 'must be 1 to 64 letters, digits, "_", "~" or "-" (it becomes an ILP address segment)'
    }),
    relation: limits.relation,
    assetCode: limits.assetCode,
    assetScale: limits.assetScale,
    link: ApiLinkSchema,
    minBalance: limits.minBalance,
    maxBalance: limits.maxBalance,
    maxPacketAmount: limits.maxPacketAmount,
    packetsPerSecond: limits.packetsPerSecond,
    throughputLimit: limits.throughputLimit
  },
  { additionalProperties: false }
)
export type CreateAccountBody = Static<typeof CreateAccountSchema>

/** PATCH /accounts/{id}: the limits to change; null removes one, an absent field is left as it is. */
export const UpdateAccountSchema = Type.Object(
  {
    minBalance: Type.Optional(Type.Union([Type.String({ pattern: INT_STRING_PATTERN }), Type.Null()], { errorMessage: 'must be an integer string such as "-1000", or null to remove the limit' })),
    maxBalance: Type.Optional(Type.Union([Type.String({ pattern: INT_STRING_PATTERN }), Type.Null()], { errorMessage: 'must be an integer string such as "5000", or null to remove the limit' })),
    maxPacketAmount: Type.Optional(Type.Union([Type.String({ pattern: UINT_STRING_PATTERN }), Type.Null()], { errorMessage: 'must be a string of digits (uint64), or null to remove the limit' })),
    packetsPerSecond: Type.Optional(Type.Union([Type.Integer({ exclusiveMinimum: 0 }), Type.Null()], { errorMessage: 'must be an integer > 0, or null to remove the limit' })),
    throughputLimit: Type.Optional(Type.Union([
      Type.Object({ amount: Type.String({ pattern: UINT_STRING_PATTERN }), periodMs: Type.Integer({ exclusiveMinimum: 0 }) }, { additionalProperties: false }),
      Type.Null()
    ], { errorMessage: 'must be { "amount": "<uint64 string>", "periodMs": <integer > 0> }, or null to remove the limit' }))
  },
  { additionalProperties: false }
)
export type UpdateAccountBody = Static<typeof UpdateAccountSchema>

export const AdjustBalanceSchema = Type.Object(
  {
    amount: Type.String({
      pattern: '^-?[1-9][0-9]*$',
      maxLength: 40,
      errorMessage: 'must be a non-zero integer string such as "500" or "-500" (added to the balance; amounts are strings, not numbers)'
    }),
    reason: Type.String({ minLength: 1, maxLength: 500, errorMessage: 'must be a non-empty string of at most 500 characters' })
  },
  { additionalProperties: false }
)
export type AdjustBalanceBody = Static<typeof AdjustBalanceSchema>

export const AddRouteSchema = Type.Object(
  {
    prefix: Type.String({
      maxLength: ILP_ADDRESS_MAX_LENGTH,
      pattern: ILP_PREFIX_PATTERN,
      errorMessage: 'must be an ILP address prefix such as "g.example" (segments of letters, digits, "_", "~", "-")'
    }),
    account: Type.String({ minLength: 1, errorMessage: 'must be the id of an account' })
  },
  { additionalProperties: false }
)
export type AddRouteBody = Static<typeof AddRouteSchema>

export const CreateKeySchema = Type.Object(
  { label: Type.Optional(Type.String({ minLength: 1, maxLength: 100, errorMessage: 'must be a string of 1 to 100 characters' })) },
  { additionalProperties: false }
)
