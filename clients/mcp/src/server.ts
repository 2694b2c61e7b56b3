// Warden as MCP tools for one agent: the server holds an agent's token and
// acts only as that agent (the token's principal, from WhoAmI; Warden
// refuses anything else). Every tool answers text an LLM can read and the
// same facts as structured content.
import {McpServer} from '@modelcontextprotocol/sdk/server/mcp.js';
import {z} from 'zod/v4';

import {Decision, Operation, WardenClient, WardenError} from '@warden/client';

export interface ServerOptions {
  /** The agent the token belongs to ("agent_a"). */
  agentId: string;
  /** The console's base URL (".../console/"), for approvals: a pending
   * spend points the user there (URL-mode elicitation where the client
   * supports it). */
  consoleUrl?: string;
}

const MAX_WAIT_SECONDS = 3600;

type ToolResult = {
  content: {type: 'text'; text: string}[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

function answer(text: string, structured: Record<string, unknown>): ToolResult {
  return {content: [{type: 'text', text}], structuredContent: structured};
}

function failure(e: unknown): ToolResult {
  const text = e instanceof WardenError ? `Warden refused the call: ${e.message}` :
      e instanceof Error ? e.message : String(e);
  return {content: [{type: 'text', text}], isError: true};
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

  return server;
}
