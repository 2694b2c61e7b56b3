// Warden's TypeScript client: ask Warden before an agent signs. A small
// layer over @grpc/grpc-js with types generated from Warden's protos
// (src/gen/, by @grpc/proto-loader's generator): it makes and reuses
// idempotency keys, retries UNAVAILABLE with them, waits for approvals and
// turns refusals into typed errors, and pays x402 (HTTP 402) resources
// through Warden. Money stays exact: USD as Warden's decimal strings, base
// units as bigint or decimal strings.
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
import type {PayX402Response__Output} from './gen/warden/v1/PayX402Response';
import type {Timestamp__Output} from './gen/google/protobuf/Timestamp';
import type {Violation__Output} from './gen/warden/v1/Violation';
import type {BudgetStatusResponse__Output} from './gen/warden/v1/BudgetStatusResponse';
import type {SubmitTransactionResponse__Output} from './gen/warden/v1/SubmitTransactionResponse';
import type {WhoAmIResponse__Output} from './gen/warden/v1/WhoAmIResponse';
import type {X402Authorization__Output} from './gen/warden/v1/X402Authorization';

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

/** One `accepts` entry of an x402 402 response (scheme `exact` on an EVM
 * network), as PayX402 takes it. */
export interface X402Requirements {
  /** Only "exact". */
  scheme: string;
  /** "eip155:<chain id>": the wallet's chain. */
  network: string;
  /** The token's contract (0x-hex): an asset declared on that chain. */
  asset: string;
  /** Base units of the token: a bigint or a decimal string. */
  amount: bigint | string;
  payTo: string;
  /** How long the signed payment stays valid: 1 to 3600 seconds. */
  maxTimeoutSeconds: number;
  /** The token's EIP-712 domain: the requirement's `extra.name` and
   * `extra.version`. */
  tokenName: string;
  tokenVersion: string;
}

export interface X402PayRequest {
  agentId: string;
  /** A `local` wallet (Warden holds its key) on the requirement's network. */
  walletId: string;
  requirements: X402Requirements;
  /** The URL that answered 402; its host must be on the agent's
   * `x402_domains`. */
  resource: string;
  memo?: string;
  /** Made for you when absent. The same key is the same payment (one
   * nonce): pass one to ask again after an approval. */
  idempotencyKey?: string;
}

/** The EIP-3009 TransferWithAuthorization Warden signed: x402's `exact`
 * EVM payload. Times are Unix seconds; all decimal strings. */
export interface X402Authorization {
  from: string;
  to: string;
  value: string;
  validAfter: string;
  validBefore: string;
  nonce: string;
  signature: string;
}

export interface X402PayResult {
  decision: Decision;
  /** SUBMITTED once signed, CONFIRMED once used on chain (the hold
   * settled), FAILED once expired unused (voided); none for a DENY. */
  operation?: Operation;
  /** The signed payment, once allowed: what the PAYMENT-SIGNATURE header
   * carries. */
  payment?: X402Authorization;
}

export interface X402FetchOptions {
  agentId: string;
  walletId: string;
  memo?: string;
  /** Made for you when absent. The same key is the same payment: fetch
   * again with a WardenPaymentPending's key once it is approved, or after
   * a lost answer, and Warden signs nothing new. */
  idempotencyKey?: string;
  /** How long to wait for approvers (or a delay) when Warden holds the
   * payment, then ask again; default 0: throw WardenPaymentPending at
   * once. */
  waitForApprovalMs?: number;
}

/** What the server reported about the payment (its PAYMENT-RESPONSE). */
export interface X402Settlement {
  success: boolean;
  /** The transaction that moved the money, when settled. */
  transaction: string;
  network: string;
  payer: string;
  /** Why it was not settled, e.g. "invalid_exact_evm_nonce_already_used". */
  errorReason?: string;
}

/** A payment a fetch made: Warden's decision and what was sent. */
export interface X402Paid {
  decision: Decision;
  /** Follow it with waitForOperation: CONFIRMED once used on chain. */
  operation?: Operation;
  payment: X402Authorization;
  idempotencyKey: string;
  /** The server's PAYMENT-RESPONSE, when it sent one. */
  settlement?: X402Settlement;
  /** Why the server refused the payment, when it answered 402 again: its
   * PAYMENT-REQUIRED's `error`, e.g. "invalid_exact_evm_nonce_already_used". */
  refusal?: string;
}

/** fetch's Response; `x402` is set when it answers a payment Warden signed
 * (whatever its status: a server may refuse the payment). */
export type PaidResponse = Response & {readonly x402?: X402Paid};

/** A 402 this client cannot pay: not x402 v2, or no `exact` payment on an
 * EVM network. Nothing was signed. */
export class X402Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'X402Error';
  }
}

/** Warden denied an x402 payment (or it was already spent or expired):
 * nothing was sent. */
export class WardenPaymentDenied extends Error {
  constructor(readonly decision: Decision, readonly idempotencyKey: string) {
    super(`Warden denied the payment (${decision.authorizationId}): ${decision.reason}`);
    this.name = 'WardenPaymentDenied';
  }
  get authorizationId(): string {
    return this.decision.authorizationId;
  }
  get reason(): string {
    return this.decision.reason;
  }
  get violations(): Violation[] {
    return this.decision.violations;
  }
}

/** Warden holds an x402 payment for approval (or a delay): nothing was
 * sent. Fetch again with `idempotencyKey` once it is decided. */
export class WardenPaymentPending extends Error {
  constructor(readonly decision: Decision, readonly idempotencyKey: string) {
    super(`Warden holds the payment (${decision.authorizationId}) as ${decision.decision}: ` +
          `${decision.reason} Fetch again with idempotencyKey ${idempotencyKey} once it is decided.`);
    this.name = 'WardenPaymentPending';
  }
  get authorizationId(): string {
    return this.decision.authorizationId;
  }
}

/** Warden signed the payment, but the request carrying it failed (the
 * network, a timeout): it may or may not have reached the server. Fetch
 * again with `idempotencyKey` to send the same payment, which the token
 * uses once; unused, it expires and Warden releases its hold. */
export class X402SendError extends Error {
  constructor(message: string, readonly decision: Decision, readonly operation: Operation | undefined,
              readonly idempotencyKey: string, cause: unknown) {
    super(message, {cause});
    this.name = 'X402SendError';
  }
  get authorizationId(): string {
    return this.decision.authorizationId;
  }
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

function baseUnits(amount: bigint | string, field = 'amount'): string {
  const text = typeof amount === 'bigint' ? amount.toString() : amount;
  if (typeof text !== 'string' || !/^[0-9]+$/.test(text)) {
    throw new TypeError(`${field}: ${String(amount)} is not a non-negative integer of base units`);
  }
  return text;
}

const newKey = () => crypto.randomUUID().replace(/-/g, '');

/** An error's message with its cause's: fetch says only "fetch failed",
 * and why in its cause. */
function messageOf(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function toPayment(m: X402Authorization__Output): X402Authorization {
  return {
    from: m.from, to: m.to, value: m.value, validAfter: m.valid_after,
    validBefore: m.valid_before, nonce: m.nonce, signature: m.signature,
  };
}

// The longest PAYMENT-REQUIRED or PAYMENT-RESPONSE header read, in bytes.
const MAX_X402_HEADER = 64 * 1024;

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A header's base64 JSON object, or undefined. */
function base64Json(header: string): JsonObject | undefined {
  if (header.length > MAX_X402_HEADER) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** What a 402 asks for: the server's first `exact` requirement on an EVM
 * network, verbatim (the payment repeats it as `accepted`), and its
 * `resource`. */
interface PaymentRequired {
  accepted: JsonObject;
  resource: unknown;
}

function paymentRequired(response: Response): PaymentRequired {
  const header = response.headers.get('payment-required');
  if (header === null) {
    throw new X402Error(`${response.url}: the 402 has no PAYMENT-REQUIRED header: not an x402 v2 ` +
                        'server (x402 v1, which asks for an X-PAYMENT header, is not supported)');
  }
  const doc = base64Json(header);
  if (!doc || doc.x402Version !== 2 || !Array.isArray(doc.accepts)) {
    throw new X402Error(`${response.url}: the PAYMENT-REQUIRED header is not x402 v2 payment ` +
                        `requirements (base64 of a JSON object with x402Version 2 and accepts, ` +
                        `at most ${MAX_X402_HEADER} bytes)`);
  }
  const accepted = doc.accepts.find((a): a is JsonObject =>
      isObject(a) && a.scheme === 'exact' && text(a.network).startsWith('eip155:'));
  if (!accepted) {
    throw new X402Error(`${response.url}: the server accepts no \`exact\` payment on an EVM network ` +
                        '(eip155:<chain id>)');
  }
  return {accepted, resource: doc.resource};
}

function requirementsOf(accepted: JsonObject): X402Requirements {
  const extra = isObject(accepted.extra) ? accepted.extra : {};
  return {
    scheme: text(accepted.scheme), network: text(accepted.network), asset: text(accepted.asset),
    amount: text(accepted.amount), payTo: text(accepted.payTo),
    maxTimeoutSeconds: typeof accepted.maxTimeoutSeconds === 'number' ? accepted.maxTimeoutSeconds : 0,
    tokenName: text(extra.name), tokenVersion: text(extra.version),
  };
}

/** The PAYMENT-SIGNATURE header: the signed authorization, with the
 * requirement it pays exactly as the server wrote it. */
function paymentSignature(required: PaymentRequired, p: X402Authorization): string {
  const doc = {
    x402Version: 2,
    resource: required.resource,
    accepted: required.accepted,
    payload: {
      authorization: {from: p.from, to: p.to, value: p.value, validAfter: p.validAfter,
                      validBefore: p.validBefore, nonce: p.nonce},
      signature: p.signature,
    },
  };
  return Buffer.from(JSON.stringify(doc)).toString('base64');
}

function settlementOf(response: Response): X402Settlement | undefined {
  const header = response.headers.get('payment-response');
  const s = header === null ? undefined : base64Json(header);
  if (!s || typeof s.success !== 'boolean') return undefined;
  return {
    success: s.success, transaction: text(s.transaction), network: text(s.network),
    payer: text(s.payer), errorReason: typeof s.errorReason === 'string' ? s.errorReason : undefined,
  };
}

/** Why a server answering a payment with 402 refused it. */
function refusalOf(response: Response): string | undefined {
  const header = response.status === 402 ? response.headers.get('payment-required') : null;
  const doc = header === null ? undefined : base64Json(header);
  return typeof doc?.error === 'string' ? doc.error : undefined;
}

/** The request, checked to be sendable twice (again with the payment). */
function replayable(input: string | URL | Request, init: RequestInit | undefined): Request {
  const body = init?.body;
  if (body !== undefined && body !== null) {
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
      throw new TypeError('init.body: only a string or a Uint8Array can be sent again with the ' +
                          'payment; read the stream into one first');
    }
  } else if (input instanceof Request && input.body !== null) {
    throw new TypeError('input: a Request with a body cannot be sent again with the payment; ' +
                        'pass the body as init.body (a string or a Uint8Array)');
  }
  return new Request(input, init);
}

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

  /** Has Warden check an x402 payment against the agent's budgets and
   * rules and, on an allow, sign it with the wallet's key: the decision,
   * the operation and the signed payment (none for a DENY; none yet for
   * PENDING_APPROVAL or DELAYED: ask again with the same key once
   * decided). Retries like authorize: one payment, however many tries. */
  async payX402(request: X402PayRequest): Promise<X402PayResult> {
    const r = request.requirements;
    if (!Number.isSafeInteger(r.maxTimeoutSeconds)) {
      throw new TypeError(`requirements.maxTimeoutSeconds: ${r.maxTimeoutSeconds} is not an integer`);
    }
    const message = {
      org_id: this.orgId, agent_id: request.agentId, wallet_id: request.walletId,
      resource: request.resource, memo: request.memo ?? '',
      idempotency_key: request.idempotencyKey ?? newKey(),
      requirements: {
        scheme: r.scheme, network: r.network, asset: r.asset,
        amount: baseUnits(r.amount, 'requirements.amount'), pay_to: r.payTo,
        max_timeout_seconds: r.maxTimeoutSeconds, token_name: r.tokenName,
        token_version: r.tokenVersion,
      },
    };
    const out = await this.retrying<PayX402Response__Output>((cb) => this.stub.PayX402(message, this.metadata, this.options(), cb));
    return {
      decision: toDecision(out.authorization!),
      operation: out.operation ? toOperation(out.operation) : undefined,
      payment: out.payment ? toPayment(out.payment) : undefined,
    };
  }

  /** fetch, paying an x402 v2 `402 Payment Required` through Warden: on a
   * 402 it takes the server's first `exact` requirement on an EVM network,
   * has Warden check and sign it (payX402, with the request's URL as the
   * resource) and sends the request once more with the PAYMENT-SIGNATURE
   * header, answering that response with `x402` set. It pays at most once
   * per call: a paid request answered 402 again is returned as it is. A
   * DENY throws WardenPaymentDenied, a payment still held for approval
   * WardenPaymentPending, a 402 it cannot pay X402Error; none sends
   * anything. A signed payment whose request fails throws X402SendError.
   * The body must be a string or a Uint8Array (sent twice). */
  async fetch(input: string | URL | Request, init: RequestInit | undefined,
              options: X402FetchOptions): Promise<PaidResponse> {
    const request = replayable(input, init);
    const retry = request.clone();
    const first = await globalThis.fetch(request);
    if (first.status !== 402) return first;
    await first.body?.cancel();
    const required = paymentRequired(first);
    const idempotencyKey = options.idempotencyKey ?? newKey();
    const pay = () => this.payX402({
      agentId: options.agentId, walletId: options.walletId, requirements: requirementsOf(required.accepted),
      resource: request.url, memo: options.memo, idempotencyKey,
    });
    let paid = await pay();
    const waitMs = options.waitForApprovalMs ?? 0;
    if (paid.decision.pending && waitMs > 0) {
      try {
        await this.waitForDecision(paid.decision.authorizationId, waitMs);
      } catch (e) {
        if (!(e instanceof WardenError && e.code === grpc.status.DEADLINE_EXCEEDED)) throw e;
        throw new WardenPaymentPending(paid.decision, idempotencyKey);
      }
      paid = await pay();
    }
    if (paid.decision.pending) throw new WardenPaymentPending(paid.decision, idempotencyKey);
    if (!paid.decision.allowed || !paid.payment) throw new WardenPaymentDenied(paid.decision, idempotencyKey);
    retry.headers.set('PAYMENT-SIGNATURE', paymentSignature(required, paid.payment));
    let response: Response;
    try {
      response = await globalThis.fetch(retry);
    } catch (e) {
      throw new X402SendError(`${request.method} ${request.url}: sending the payment failed ` +
                              `(${messageOf(e)}); fetch again with idempotencyKey ${idempotencyKey} ` +
                              'to send the same payment', paid.decision, paid.operation, idempotencyKey, e);
    }
    const x402: X402Paid = {
      decision: paid.decision, operation: paid.operation, payment: paid.payment, idempotencyKey,
      settlement: settlementOf(response), refusal: refusalOf(response),
    };
    return Object.assign(response, {x402});
  }

  /** The fields Authorize and SubmitTransaction share; a new idempotency
   * key unless given (the retries reuse it). */
  private spendFields(spend: Spend) {
    return {
      org_id: this.orgId, agent_id: spend.agentId, wallet_id: spend.walletId,
      asset: spend.asset, amount: baseUnits(spend.amount), destination: spend.destination,
      memo: spend.memo ?? '',
      idempotency_key: spend.idempotencyKey ?? newKey(),
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
