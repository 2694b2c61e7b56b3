// Warden's TypeScript client: ask Warden before an agent signs. A small
// layer over @grpc/grpc-js with types generated from Warden's protos
// (src/gen/, by @grpc/proto-loader's generator): it makes and reuses
// idempotency keys, retries UNAVAILABLE with them, waits for approvals and
// turns refusals into typed errors. Money stays exact: USD as Warden's
// decimal strings, base units as bigint or decimal strings.
import * as crypto from 'crypto';
import * as path from 'path';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import type {ProtoGrpcType} from './gen/authorization';
import type {AuthorizationServiceClient} from './gen/warden/v1/AuthorizationService';
import type {Authorization__Output} from './gen/warden/v1/Authorization';
import type {AuthorizeResponse__Output} from './gen/warden/v1/AuthorizeResponse';
import type {LimitStatus__Output} from './gen/warden/v1/LimitStatus';
import type {Operation__Output} from './gen/warden/v1/Operation';
import type {Timestamp__Output} from './gen/google/protobuf/Timestamp';
import type {Violation__Output} from './gen/warden/v1/Violation';
import type {BudgetStatusResponse__Output} from './gen/warden/v1/BudgetStatusResponse';
import type {SubmitTransactionResponse__Output} from './gen/warden/v1/SubmitTransactionResponse';
import type {WhoAmIResponse__Output} from './gen/warden/v1/WhoAmIResponse';

export interface ClientOptions {
  /** An API token (sent as `authorization: Bearer`); none for a server run
   * without authentication (development only). */
  token?: string;
  /** PEM of the CA that signed wardend's certificate: TLS. Without it the
   * channel is plaintext (loopback only). */
  rootCerts?: Buffer;
  /** The org, when the server serves several. */
  orgId?: string;
  /** Per call, in milliseconds (default 10,000). */
  timeoutMs?: number;
  /** How many times authorize/submit retry UNAVAILABLE or a lost answer,
   * with the same idempotency key (default 3). */
  retries?: number;
  /** The first retry's pause; each next one doubles (default 200 ms). */
  backoffMs?: number;
}

/** A call Warden refused or could not answer. A DENY is not an error. */
export class WardenError extends Error {
  constructor(
      /** The gRPC status code, e.g. grpc.status.INVALID_ARGUMENT. */
      readonly code: grpc.status,
      /** Warden's message; for bad input it starts with the field. */
      readonly details: string) {
    super(`${grpc.status[code]}: ${details}`);
    this.name = 'WardenError';
  }
  /** "INVALID_ARGUMENT", "UNAVAILABLE", ... */
  get codeName(): string {
    return grpc.status[this.code];
  }
}

export interface Violation {
  code: string;
  scope: string;
  limit: string;
  window: string;
  spent: string;
  requested: string;
  remaining: string;
  message: string;
  limitUsd?: string;
  limitCount?: string;
}

export type DecisionKind = 'ALLOW' | 'DENY' | 'PENDING_APPROVAL' | 'DELAYED';

export interface Decision {
  authorizationId: string;
  decision: DecisionKind;
  /** HELD, SETTLED, VOIDED, EXPIRED or DENIED. */
  status: string;
  /** Decimal string of USD. */
  amountUsd: string;
  reason: string;
  violations: Violation[];
  holdExpiresAt?: Date;
  releaseAt?: Date;
  approvalsRequired: number;
  replayed: boolean;
  /** Sign now: the amount is held for this spend. */
  allowed: boolean;
  denied: boolean;
  /** Do not sign yet: approvers (or a delay) decide first. */
  pending: boolean;
}

export interface Operation {
  operationId: string;
  authorizationId: string;
  /** PENDING, SENDING, AWAITING_APPROVAL, SUBMITTED, CONFIRMED, FAILED or
   * UNKNOWN. */
  state: string;
  txHash: string;
  error: string;
  walletId: string;
  final: boolean;
}

export interface LimitStatus {
  scope: string;
  name: string;
  window: string;
  onViolation: string;
  /** USD limits: decimal strings; empty for a count limit. */
  limitUsd: string;
  usedUsd: string;
  settledUsd: string;
  heldUsd: string;
  pendingUsd: string;
  remainingUsd: string;
  /** Count limits. */
  limitCount: string;
  usedCount: string;
  remainingCount: string;
  rollsOffAt?: Date;
}

export interface Spend {
  agentId: string;
  walletId: string;
  /** The asset's symbol as the policy declares it, e.g. "USDC". */
  asset: string;
  /** Base units (wei, 10^-6 USDC): a bigint or a decimal string. */
  amount: bigint | string;
  destination: string;
  memo?: string;
  /** Made for you when absent; reused on every retry of this call. */
  idempotencyKey?: string;
}

const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

function loadService(): ProtoGrpcType {
  const root = path.resolve(__dirname, '../../proto');
  const definition = protoLoader.loadSync('warden/v1/authorization.proto', {
    includeDirs: [root],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}

function time(ts: Timestamp__Output | null | undefined): Date | undefined {
  if (!ts) return undefined;
  return new Date(Number(BigInt(ts.seconds) * 1000n) + Math.floor(ts.nanos / 1e6));
}

function strip(value: string, prefix: string): string {
  return value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

function toViolation(v: Violation__Output): Violation {
  return {
    code: v.code, scope: v.scope, limit: v.limit, window: v.window, spent: v.spent,
    requested: v.requested, remaining: v.remaining, message: v.message,
    limitUsd: v.limit_value === 'limit_usd' ? v.limit_usd : undefined,
    limitCount: v.limit_value === 'limit_count' ? String(v.limit_count) : undefined,
  };
}

function toDecision(m: AuthorizeResponse__Output | Authorization__Output): Decision {
  const decision = strip(m.decision, 'DECISION_') as DecisionKind;
  const status = strip(m.status, 'AUTHORIZATION_STATUS_');
  return {
    authorizationId: m.authorization_id,
    decision,
    status,
    amountUsd: m.amount_usd,
    reason: m.reason,
    violations: m.violations.map(toViolation),
    holdExpiresAt: time(m.hold_expires_at),
    releaseAt: time(m.release_at),
    approvalsRequired: m.approvals_required,
    replayed: 'replayed' in m ? m.replayed : false,
    allowed: decision === 'ALLOW' && (status === 'HELD' || status === 'SETTLED'),
    denied: decision === 'DENY',
    pending: (decision === 'PENDING_APPROVAL' || decision === 'DELAYED') && status === 'HELD',
  };
}

function toOperation(m: Operation__Output): Operation {
  const state = strip(m.state, 'OPERATION_STATE_');
  return {
    operationId: m.operation_id, authorizationId: m.authorization_id, state,
    txHash: m.tx_hash, error: m.error, walletId: m.wallet_id,
    final: state === 'CONFIRMED' || state === 'FAILED',
  };
}

function toLimit(m: LimitStatus__Output): LimitStatus {
  return {
    scope: m.scope, name: m.name, window: m.window, onViolation: m.on_violation,
    limitUsd: m.limit_usd, usedUsd: m.used_usd, settledUsd: m.settled_usd,
    heldUsd: m.held_usd, pendingUsd: m.pending_usd, remainingUsd: m.remaining_usd,
    limitCount: m.limit_count, usedCount: m.used_count, remainingCount: m.remaining_count,
    rollsOffAt: time(m.rolls_off_at),
  };
}

function baseUnits(amount: bigint | string): string {
  const text = typeof amount === 'bigint' ? amount.toString() : amount;
  if (typeof text !== 'string' || !/^[0-9]+$/.test(text)) {
    throw new TypeError(`amount: ${String(amount)} is not a non-negative integer of base units`);
  }
  return text;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class WardenClient {
  private readonly stub: AuthorizationServiceClient;
  private readonly metadata = new grpc.Metadata();
  private readonly orgId: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  /** `target`: "host:port" of wardend's gRPC port. */
  constructor(target: string, options: ClientOptions = {}) {
    this.orgId = options.orgId ?? '';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 200;
    if (!(this.timeoutMs > 0)) throw new RangeError('timeoutMs: must be positive');
    if (!(this.retries >= 0)) throw new RangeError('retries: must be 0 or more');
    if (options.token) this.metadata.set('authorization', `Bearer ${options.token}`);
    const credentials = options.rootCerts ?
        grpc.credentials.createSsl(options.rootCerts) :
        grpc.credentials.createInsecure();
    this.stub = new (loadService().warden.v1.AuthorizationService)(target, credentials);
  }

  close(): void {
    this.stub.close();
  }

  /** Asks before signing: ALLOW (sign, then settle), DENY (its violations
   * say why) or PENDING_APPROVAL/DELAYED (waitForDecision). Retries
   * UNAVAILABLE with the same idempotency key: one spend, however many
   * tries. */
  async authorize(spend: Spend & {calldata?: string}): Promise<Decision> {
    const request = {...this.spendFields(spend), calldata: spend.calldata ?? ''};
    return toDecision(await this.retrying((cb) => this.stub.Authorize(request, this.metadata, this.options(), cb)));
  }

  /** Waits (WatchAuthorization) until approvers or the delay decide; a
   * WardenError DEADLINE_EXCEEDED after `timeoutMs`. */
  async waitForDecision(authorizationId: string, timeoutMs = 600_000): Promise<Decision> {
    const deadline = Date.now() + timeoutMs;
    let last: Decision | undefined;
    while (Date.now() < deadline) {
      try {
        const final = await new Promise<Decision | undefined>((resolve, reject) => {
          const call = this.stub.WatchAuthorization(
              {org_id: this.orgId, authorization_id: authorizationId}, this.metadata,
              {deadline: new Date(deadline)});
          call.on('data', (record: Authorization__Output) => {
            last = toDecision(record);
            if (!last.pending) {
              call.cancel();
              resolve(last);
            }
          });
          call.on('error', (e: grpc.ServiceError) => {
            if (e.code === grpc.status.CANCELLED && last && !last.pending) return;
            reject(e);
          });
          call.on('end', () => resolve(undefined));
        });
        if (final) return final;
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        if (code === grpc.status.DEADLINE_EXCEEDED) break;
        if (code !== grpc.status.UNAVAILABLE) throw new WardenError(code, (e as grpc.ServiceError).details);
        await sleep(Math.min(this.backoffMs, Math.max(0, deadline - Date.now())));
      }
    }
    throw new WardenError(grpc.status.DEADLINE_EXCEEDED,
                          `${authorizationId}: still ${last ? last.decision : 'undecided'} after ${timeoutMs} ms`);
  }

  async get(authorizationId: string): Promise<Decision> {
    return toDecision(await this.once((cb) => this.stub.GetAuthorization(
        {org_id: this.orgId, authorization_id: authorizationId}, this.metadata, this.options(), cb)));
  }

  /** Records what was spent (at most what was held); releases the rest. */
  async settle(authorizationId: string, amount: bigint | string, txHash = ''): Promise<Decision> {
    const request = {org_id: this.orgId, authorization_id: authorizationId,
                     amount: baseUnits(amount), tx_hash: txHash};
    return toDecision(await this.once((cb) => this.stub.Settle(request, this.metadata, this.options(), cb)));
  }

  /** Releases a hold that will not be used. */
  async void(authorizationId: string): Promise<Decision> {
    return toDecision(await this.once((cb) => this.stub.Void(
        {org_id: this.orgId, authorization_id: authorizationId}, this.metadata, this.options(), cb)));
  }

  /** Authorizes and has Warden send the transaction through the wallet's
   * vendor: the decision and the operation (none for a DENY). Retries like
   * authorize: never sent twice. */
  async submit(spend: Spend & {data?: string}): Promise<{decision: Decision; operation?: Operation}> {
    const request = {...this.spendFields(spend), data: spend.data ?? ''};
    const r = await this.retrying<SubmitTransactionResponse__Output>((cb) => this.stub.SubmitTransaction(request, this.metadata, this.options(), cb));
    return {
      decision: toDecision(r.authorization!),
      operation: r.operation ? toOperation(r.operation) : undefined,
    };
  }

  async operation(operationId: string): Promise<Operation> {
    return toOperation(await this.once((cb) => this.stub.GetOperation(
        {org_id: this.orgId, operation_id: operationId}, this.metadata, this.options(), cb)));
  }

  /** Polls until the operation is CONFIRMED or FAILED. */
  async waitForOperation(operationId: string, timeoutMs = 120_000, pollMs = 500): Promise<Operation> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const op = await this.operation(operationId);
      if (op.final) return op;
      if (Date.now() + pollMs > deadline) {
        throw new WardenError(grpc.status.DEADLINE_EXCEEDED,
                              `${operationId}: still ${op.state} after ${timeoutMs} ms`);
      }
      await sleep(pollMs);
    }
  }

  /** Each limit of `scope` ("agent/<id>", "wallet/<id>", ...; an agent
   * reads its own) now: used, settled, held, pending, left. */
  async budgetStatus(scope = '', includeBelow = false): Promise<LimitStatus[]> {
    const r = await this.once<BudgetStatusResponse__Output>((cb) => this.stub.BudgetStatus(
        {org_id: this.orgId, scope, include_below: includeBelow}, this.metadata, this.options(), cb));
    return r.limits.map(toLimit);
  }

  async whoami(): Promise<{orgId: string; principal: string; roles: string[]}> {
    const r = await this.once<WhoAmIResponse__Output>((cb) => this.stub.WhoAmI({}, this.metadata, this.options(), cb));
    return {orgId: r.org_id, principal: r.principal, roles: r.roles};
  }

  /** The fields Authorize and SubmitTransaction share; a new idempotency
   * key unless given (the retries reuse it). */
  private spendFields(spend: Spend) {
    return {
      org_id: this.orgId, agent_id: spend.agentId, wallet_id: spend.walletId,
      asset: spend.asset, amount: baseUnits(spend.amount), destination: spend.destination,
      memo: spend.memo ?? '',
      idempotency_key: spend.idempotencyKey ?? crypto.randomUUID().replace(/-/g, ''),
    };
  }

  private options(): grpc.CallOptions {
    return {deadline: new Date(Date.now() + this.timeoutMs)};
  }

  private once<T>(start: (cb: (e: grpc.ServiceError | null, r?: T) => void) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      start((e, r) => (e ? reject(new WardenError(e.code, e.details)) : resolve(r as T)));
    });
  }

  private async retrying<T>(start: (cb: (e: grpc.ServiceError | null, r?: T) => void) => unknown): Promise<T> {
    for (let attempt = 0; ; ++attempt) {
      try {
        return await this.once(start);
      } catch (e) {
        const err = e as WardenError;
        if (!RETRYABLE.has(err.code) || attempt >= this.retries) throw err;
        await sleep(this.backoffMs * 2 ** attempt);
      }
    }
  }
}
