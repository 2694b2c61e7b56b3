// Warden as MCP tools for one agent: the server holds an agent's token and
// acts only as that agent (the token's principal, from WhoAmI; Warden
// refuses anything else). Every tool answers text an LLM can read and the
// same facts as structured content.
import {McpServer} from '@modelcontextprotocol/sdk/server/mcp.js';
import {z} from 'zod/v4';

import {
  Decision, Operation, PaidResponse, WardenClient, WardenError, WardenPaymentDenied, WardenPaymentPending,
  X402Error, X402Paid, X402SendError,
} from '@warden/client';

export interface ServerOptions {
  /** The agent the token belongs to ("agent_a"). */
  agentId: string;
  /** The console's base URL (".../console/"), for approvals: a pending
   * spend points the user there (URL-mode elicitation where the client
   * supports it). */
  consoleUrl?: string;
}

const MAX_WAIT_SECONDS = 3600;
const PAY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
// pay_x402's bounds: the request body it sends and the response body it
// answers, in bytes; the time for its HTTP requests and reading the answer.
const MAX_PAY_BODY = 1 << 20;
const MAX_ANSWER_BODY = 64 * 1024;
const PAY_TIMEOUT_MS = 60_000;

type ToolResult = {
  content: {type: 'text'; text: string}[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

function answer(text: string, structured: Record<string, unknown>): ToolResult {
  return {content: [{type: 'text', text}], structuredContent: structured};
}

function toolError(text: string): ToolResult {
  return {content: [{type: 'text', text}], isError: true};
}

function failure(e: unknown): ToolResult {
  return toolError(e instanceof WardenError ? `Warden refused the call: ${e.message}` :
      e instanceof Error ? e.message : String(e));
}

function describe(d: Decision): string {
  switch (d.decision) {
    case 'ALLOW':
      return `ALLOW ${d.authorizationId}: $${d.amountUsd} is held for this spend until ` +
          `${d.holdExpiresAt?.toISOString() ?? 'settled'}. Sign and send it now.`;
    case 'DENY':
      return `DENY ${d.authorizationId}: do not sign. ${d.reason}`;
    default:
      return `${d.decision} ${d.authorizationId}: do not sign yet. ${d.reason} ` +
          `Call wait_for_approval with authorization_id ${d.authorizationId}.`;
  }
}

function decisionContent(d: Decision): Record<string, unknown> {
  return {
    authorization_id: d.authorizationId, decision: d.decision, status: d.status,
    amount_usd: d.amountUsd, reason: d.reason,
    violations: d.violations.map((v) => ({code: v.code, scope: v.scope, limit: v.limit,
                                          message: v.message})),
    hold_expires_at: d.holdExpiresAt?.toISOString(),
  };
}

function operationContent(op: Operation): Record<string, unknown> {
  return {operation_id: op.operationId, authorization_id: op.authorizationId, state: op.state,
          tx_hash: op.txHash, error: op.error, final: op.final};
}

/** An error's message with its cause's: fetch says only "fetch failed",
 * and why in its cause. */
function messageOf(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message;
}

interface AnswerBody {
  text: string;
  /** Longer than MAX_ANSWER_BODY: `text` is its beginning. */
  truncated: boolean;
  /** Why reading it stopped early, if it did. */
  error?: string;
}

/** The response's body as text, at most MAX_ANSWER_BODY bytes of it (a
 * multi-byte character cut at the end is dropped). */
async function readBody(response: Response): Promise<AnswerBody> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let error: string | undefined;
  if (response.body) {
    const reader = response.body.getReader();
    try {
      while (size <= MAX_ANSWER_BODY) {
        const {done, value} = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.length;
      }
      if (size > MAX_ANSWER_BODY) await reader.cancel();
    } catch (e) {
      error = `reading the body failed: ${messageOf(e)}`;
    }
  }
  const truncated = size > MAX_ANSWER_BODY;
  const bytes = Buffer.concat(chunks).subarray(0, MAX_ANSWER_BODY);
  return {text: new TextDecoder().decode(bytes, {stream: truncated}), truncated, error};
}

/** What pay_x402 says of a response: the payment, the status, the body. */
function describeFetch(method: string, url: string, response: Response, x402: X402Paid | undefined,
                       body: AnswerBody): string {
  const status = `${method} ${url} answered ${response.status}`;
  let text: string;
  if (!x402) {
    text = `${status}; it asked for no payment, and nothing was paid.`;
  } else {
    const d = x402.decision;
    const s = x402.settlement;
    const refusal = x402.refusal ?? s?.errorReason;
    const paid = `$${d.amountUsd} (${d.decision} ${d.authorizationId}` +
        (x402.operation ? `, operation ${x402.operation.operationId})` : ')');
    const followUp = d.replayed ?
        ' It is the payment Warden signed before for this idempotency_key, which pays once: ' +
            'get_operation says whether it was used (CONFIRMED).' :
        ' Unused, it expires and Warden releases its hold: get_operation follows it.';
    text = response.ok ?
        `Paid ${paid}: ${status}` + (s?.success ?
            `, settled in transaction ${s.transaction} on ${s.network}.` :
            '; it reported no settlement: follow the operation with get_operation.') :
        `Warden signed a payment of ${paid}, but ${status}` +
            (refusal ? ` (${refusal})` : '') + ': the server did not take it.' + followUp;
  }
  const note = body.error ? `The body is incomplete: ${body.error}.` :
      body.truncated ? `The body is longer than ${MAX_ANSWER_BODY} bytes; its first ${MAX_ANSWER_BODY} follow.` :
      body.text ? 'The body follows.' : 'The body is empty.';
  return `${text}\n${note}` + (body.text ? `\n\n${body.text}` : '');
}

const spendShape = {
  wallet_id: z.string().min(1).max(64).describe('One of your wallets, e.g. "wallet_1"'),
  asset: z.string().min(1).max(32).describe('The asset symbol, e.g. "USDC"'),
  amount: z.string().regex(/^[0-9]{1,40}$/, 'base units: digits only')
            .describe('Base units as a decimal string: 25 USDC (6 decimals) is "25000000"'),
  destination: z.string().min(1).max(200).describe('The address paid (0x-hex on EVM chains)'),
  memo: z.string().max(256).optional().describe('What the spend is for, kept in the audit trail'),
  idempotency_key: z.string().min(1).max(128).optional()
                      .describe('Reuse it to retry the same spend: Warden charges once'),
};

export function createServer(warden: WardenClient, options: ServerOptions): McpServer {
  const server = new McpServer({name: 'warden', version: '0.1.0'});
  const agentId = options.agentId;

  // Points the user at the console's approvals, where the client can open
  // a URL for them (MCP URL-mode elicitation); never waits on it.
  const askForApproval = (d: Decision) => {
    const capabilities = server.server.getClientCapabilities();
    const elicitation = capabilities?.elicitation as {url?: unknown} | undefined;
    if (!options.consoleUrl || !d.pending || !elicitation?.url) return;
    server.server.elicitInput({
      mode: 'url',
      message: `Warden holds a spend of $${d.amountUsd} by ${agentId} for approval.`,
      url: `${options.consoleUrl}#approvals`,
      elicitationId: d.authorizationId,
    }).catch(() => undefined);
  };

  server.registerTool('check_budget', {
    title: 'Check budget',
    description: 'How much you may still spend: each limit on you (or one of your wallets), ' +
        'with what is used, held, pending approval and left.',
    inputSchema: {wallet_id: z.string().min(1).max(64).optional()
                               .describe('A wallet of yours; omit for all your limits')},
  }, async ({wallet_id}) => {
    try {
      const scope = wallet_id ? `wallet/${wallet_id}` : `agent/${agentId}`;
      const limits = await warden.budgetStatus(scope, !wallet_id);
      const lines = limits.map((l) => l.limitUsd ?
          `${l.scope} ${l.name} (${l.window}): $${l.remainingUsd} left of $${l.limitUsd} ` +
              `($${l.settledUsd} settled, $${l.heldUsd} held, $${l.pendingUsd} pending approval)` :
          `${l.scope} ${l.name} (${l.window}): ${l.remainingCount} of ${l.limitCount} spends left`);
      return answer(lines.length ? lines.join('\n') : `No limits apply to ${scope}.`, {
        limits: limits.map((l) => ({
          scope: l.scope, name: l.name, window: l.window, limit_usd: l.limitUsd,
          remaining_usd: l.remainingUsd, used_usd: l.usedUsd, limit_count: l.limitCount,
          remaining_count: l.remainingCount, rolls_off_at: l.rollsOffAt?.toISOString(),
        })),
      });
    } catch (e) {
      return failure(e);
    }
  });

  server.registerTool('authorize_spend', {
    title: 'Authorize a spend',
    description: 'Ask Warden before signing a payment from one of your wallets: ALLOW (sign it), ' +
        'DENY (do not) or PENDING_APPROVAL (wait for approvers first).',
    inputSchema: spendShape,
  }, async (spend) => {
    try {
      const d = await warden.authorize({
        agentId, walletId: spend.wallet_id, asset: spend.asset, amount: spend.amount,
        destination: spend.destination, memo: spend.memo, idempotencyKey: spend.idempotency_key,
      });
      askForApproval(d);
      return answer(describe(d), decisionContent(d));
    } catch (e) {
      return failure(e);
    }
  });

  server.registerTool('submit_transaction', {
    title: 'Submit a transaction',
    description: 'Have Warden authorize the payment and send it through your wallet\'s vendor; ' +
        'returns the decision and an operation to follow with get_operation.',
    inputSchema: {...spendShape,
                  data: z.string().max(131072).optional().describe('0x-hex calldata of a contract call')},
  }, async (spend) => {
    try {
      const {decision, operation} = await warden.submit({
        agentId, walletId: spend.wallet_id, asset: spend.asset, amount: spend.amount,
        destination: spend.destination, memo: spend.memo, idempotencyKey: spend.idempotency_key,
        data: spend.data,
      });
      askForApproval(decision);
      const text = describe(decision) +
          (operation ? ` Operation ${operation.operationId}: ${operation.state}` +
                       (operation.txHash ? ` (tx ${operation.txHash})` : '') + '.' : '');
      return answer(text, {...decisionContent(decision),
                           operation: operation ? operationContent(operation) : undefined});
    } catch (e) {
      return failure(e);
    }
  });

  server.registerTool('get_operation', {
    title: 'Get an operation',
    description: 'The state of a submitted transaction: PENDING, SUBMITTED, CONFIRMED, FAILED, ...',
    inputSchema: {operation_id: z.string().min(1).max(128)},
  }, async ({operation_id}) => {
    try {
      const op = await warden.operation(operation_id);
      return answer(`Operation ${op.operationId}: ${op.state}` +
                        (op.txHash ? `, tx ${op.txHash}` : '') + (op.error ? `, ${op.error}` : ''),
                    operationContent(op));
    } catch (e) {
      return failure(e);
    }
  });

  server.registerTool('wait_for_approval', {
    title: 'Wait for approval',
    description: 'Wait until approvers decide a PENDING_APPROVAL spend; returns ALLOW or DENY, ' +
        'or says it is still pending after the timeout.',
    inputSchema: {
      authorization_id: z.string().min(1).max(128),
      timeout_seconds: z.number().int().min(1).max(MAX_WAIT_SECONDS).optional()
                           .describe('At most 3600; default 300'),
    },
  }, async ({authorization_id, timeout_seconds}) => {
    try {
      const d = await warden.waitForDecision(authorization_id, (timeout_seconds ?? 300) * 1000);
      return answer(describe(d), decisionContent(d));
    } catch (e) {
      if (e instanceof WardenError && e.codeName === 'DEADLINE_EXCEEDED') {
        return answer(`${authorization_id} is still awaiting approval: do not sign. ` +
                          'Call wait_for_approval again later.',
                      {authorization_id, decision: 'PENDING_APPROVAL'});
      }
      return failure(e);
    }
  });

  server.registerTool('pay_x402', {
    title: 'Fetch a URL, paying its x402 price',
    description: 'Fetch an http(s) URL; if it answers 402 Payment Required (x402 v2), Warden checks ' +
        'the price against your budgets and pays it from one of your wallets, at most once per call. ' +
        'Answers the status, the body, and the payment and its settlement; a denial is an error ' +
        'saying why, and a payment awaiting approval is not made yet.',
    inputSchema: {
      url: z.url({protocol: /^https?$/}).max(2048).describe('The resource: an http or https URL'),
      method: z.enum(PAY_METHODS).optional().describe('Default GET'),
      body: z.string().max(MAX_PAY_BODY).optional()
               .describe('A JSON request body (sent as application/json), not with GET; at most 1 MiB'),
      wallet_id: spendShape.wallet_id,
      memo: z.string().max(256).optional().describe('What the payment is for, kept in the audit trail'),
      idempotency_key: z.string().min(1).max(128).optional()
                          .describe('Reuse it to ask again for the same payment (once approved, or ' +
                                    'after a failure): Warden signs it once, so it pays once'),
    },
  }, async ({url, method = 'GET', body, wallet_id, memo, idempotency_key}) => {
    if (body !== undefined && method === 'GET') {
      return toolError('body: a GET request carries no body; pass method POST, PUT, PATCH or DELETE');
    }
    let response: PaidResponse;
    try {
      response = await warden.fetch(url, {
        method, body, signal: AbortSignal.timeout(PAY_TIMEOUT_MS),
        headers: body === undefined ? undefined : {'content-type': 'application/json'},
      }, {agentId, walletId: wallet_id, memo, idempotencyKey: idempotency_key});
    } catch (e) {
      if (e instanceof WardenPaymentDenied) {
        return {...answer(`${e.decision.decision} ${e.authorizationId}: Warden did not pay ${url}, and ` +
                              `nothing was sent. ${e.reason}`, decisionContent(e.decision)),
                isError: true};
      }
      if (e instanceof WardenPaymentPending) {
        const d = e.decision;
        askForApproval(d);
        return answer(`${d.decision} ${d.authorizationId}: not paid yet. ${d.reason} Call ` +
                          `wait_for_approval with authorization_id ${d.authorizationId}, then pay_x402 ` +
                          `again with idempotency_key ${e.idempotencyKey} (the same payment).`,
                      {...decisionContent(d), idempotency_key: e.idempotencyKey});
      }
      if (e instanceof X402SendError) {
        return toolError(`Warden signed the payment (${e.authorizationId}), but sending it to ${url} ` +
                         `failed: ${messageOf(e.cause)}. It may have been used: call pay_x402 again ` +
                         `with idempotency_key ${e.idempotencyKey} to send the same payment (it pays once).`);
      }
      if (e instanceof WardenError || e instanceof X402Error) return failure(e);
      return toolError(`${method} ${url}: ${messageOf(e)}`);
    }
    const x402 = response.x402;
    const answered = await readBody(response);
    return answer(describeFetch(method, url, response, x402, answered), {
      http_status: response.status, body: answered.text, body_truncated: answered.truncated,
      paid: x402 !== undefined && response.ok,
      ...(x402 && {
        ...decisionContent(x402.decision),
        operation: x402.operation && operationContent(x402.operation),
        settlement: x402.settlement && {
          success: x402.settlement.success, transaction: x402.settlement.transaction,
          network: x402.settlement.network, payer: x402.settlement.payer,
          error_reason: x402.settlement.errorReason,
        },
        refusal: x402.refusal,
        idempotency_key: x402.idempotencyKey,
      }),
    });
  });

  return server;
}
