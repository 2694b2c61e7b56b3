// pay_x402 over stdio, paying real x402 v2 payments: the TypeScript
// client's x402 stack (anvil, the x402 harness of tests/x402 and an
// embedded wardend holding the wallets' keys), one warden-mcp per agent.
import * as assert from 'assert/strict';
import * as http from 'http';
import * as path from 'path';
import {after, before, test} from 'node:test';

import {Client} from '@modelcontextprotocol/sdk/client/index.js';
import {StdioClientTransport} from '@modelcontextprotocol/sdk/client/stdio.js';
import {Agent, PAY_TO, PRICE, X402Stack} from '@warden/client/dist/test/x402_stack';

const BIN = path.resolve(__dirname, '../../bin/warden-mcp');

let stack: X402Stack;
const clients = new Map<Agent, Client>();

before(async () => {
  stack = await X402Stack.start();
});
after(async () => {
  try {
    await Promise.all([...clients.values()].map((c) => c.close()));
  } finally {
    stack?.stop();
  }
});

/** A warden-mcp holding `agent`'s token, and the SDK's client on it (one
 * per agent). */
async function mcpAs(agent: Agent): Promise<Client> {
  const running = clients.get(agent);
  if (running) return running;
  const client = new Client({name: 'warden-x402-test', version: '1.0.0'});
  clients.set(agent, client);
  await client.connect(new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env: {WARDEN_SERVER: stack.address, WARDEN_TOKEN: stack.tokens[agent], PATH: process.env.PATH ?? ''},
    stderr: 'ignore',
  }));
  return client;
}

type Result = {content: {type: string; text: string}[]; structuredContent?: any; isError?: boolean};
const call = async (client: Client, name: string, args: Record<string, unknown>) =>
    (await client.callTool({name, arguments: args})) as Result;

test('pays within budget: the body, the settlement, the price paid, the operation confirmed', async () => {
  const buyer = await mcpAs('buyer');
  const before = await stack.balanceOf(PAY_TO);
  const r = await call(buyer, 'pay_x402', {url: stack.resourceUrl, wallet_id: 'buyer_w', memo: 'a report'});
  assert.ok(!r.isError, r.content[0].text);
  const s = r.structuredContent;
  assert.equal(s.http_status, 200);
  assert.equal(s.status, 'HELD');
  assert.equal(s.paid, true);
  assert.equal(s.decision, 'ALLOW');
  assert.equal(s.amount_usd, '0.01');
  assert.equal(JSON.parse(s.body).ok, true);
  assert.equal(s.body_truncated, false);
  assert.equal(s.settlement.success, true);
  assert.match(s.settlement.transaction, /^0x[0-9a-f]{64}$/);
  assert.match(r.content[0].text, new RegExp(
      `^Paid \\$0\\.01 \\(ALLOW ${s.authorization_id}, operation ${s.operation.operation_id}\\): ` +
      `GET ${stack.resourceUrl} answered 200, settled in transaction ${s.settlement.transaction}`));
  assert.match(r.content[0].text, /The body follows\.\n\n\{"ok":true/);
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);

  // Its idempotency key again: Warden asks the token first, sees the
  // payment used (the hold settles) and refuses the replay itself.
  const replay = {url: stack.resourceUrl, wallet_id: 'buyer_w', idempotency_key: s.idempotency_key};
  const settled = await call(buyer, 'pay_x402', replay);
  assert.ok(settled.isError);
  assert.equal(settled.structuredContent.violations[0].code, 'ALREADY_SETTLED');
  assert.match(settled.content[0].text, new RegExp(
      `^DENY ${s.authorization_id}: Warden did not pay .*it was settled with tx ${s.settlement.transaction}`));
  const op = await call(buyer, 'get_operation', {operation_id: s.operation.operation_id});
  assert.equal(op.structuredContent.state, 'CONFIRMED', op.content[0].text);
  assert.equal(op.structuredContent.tx_hash, s.settlement.transaction);
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);
});

test('over budget: a tool error with Warden\'s reason, and nothing is paid', async () => {
  const before = await stack.balanceOf(PAY_TO);
  const r = await call(await mcpAs('tight'), 'pay_x402', {url: stack.resourceUrl, wallet_id: 'tight_w'});
  assert.ok(r.isError);
  assert.match(r.content[0].text, new RegExp(
      `^DENY az_\\w+: Warden did not pay ${stack.resourceUrl}, and nothing was sent\\. .*daily`));
  assert.equal(r.structuredContent.violations[0].code, 'BUDGET_EXCEEDED');
  assert.equal(await stack.balanceOf(PAY_TO), before);
});

test('held for approval: not paid yet; once approved, the same key pays', async () => {
  const careful = await mcpAs('careful');
  const before = await stack.balanceOf(PAY_TO);
  const pending = await call(careful, 'pay_x402', {url: stack.resourceUrl, wallet_id: 'careful_w'});
  assert.ok(!pending.isError, pending.content[0].text);
  const {authorization_id: id, idempotency_key: key} = pending.structuredContent;
  assert.equal(pending.structuredContent.decision, 'PENDING_APPROVAL');
  assert.match(pending.content[0].text, new RegExp(
      `not paid yet\\..*Call wait_for_approval with authorization_id ${id}, then pay_x402 again ` +
      `with idempotency_key ${key}`));
  assert.equal(await stack.balanceOf(PAY_TO), before);

  setTimeout(() => stack.ctl(stack.tokens.alice, 'approvals', 'approve', id), 500);
  const approved = await call(careful, 'wait_for_approval', {authorization_id: id, timeout_seconds: 30});
  assert.equal(approved.structuredContent.decision, 'ALLOW');
  const paid = await call(careful, 'pay_x402', {url: stack.resourceUrl, wallet_id: 'careful_w',
                                                idempotency_key: key});
  assert.equal(paid.structuredContent.http_status, 200, paid.content[0].text);
  assert.equal(paid.structuredContent.authorization_id, id);
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);
});

test('a response that asks for no payment is answered, its body cut at 64 KiB', async () => {
  // 80,001 bytes: the 65,536th is the first of an é's two.
  const server = http.createServer((_req, res) => res.end('a' + 'é'.repeat(40_000)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as {port: number}).port}/big`;
    const r = await call(await mcpAs('buyer'), 'pay_x402', {url, wallet_id: 'buyer_w'});
    assert.ok(!r.isError, r.content[0].text);
    assert.equal(r.structuredContent.http_status, 200);
    assert.equal(r.structuredContent.paid, false);
    assert.equal(r.structuredContent.decision, undefined);
    assert.equal(r.structuredContent.body_truncated, true);
    assert.equal(r.structuredContent.body, 'a' + 'é'.repeat(32 * 1024 - 1));
    assert.match(r.content[0].text, new RegExp(
        `^GET ${url} answered 200; it asked for no payment, and nothing was paid\\.\\n` +
        'The body is longer than 65536 bytes; its first 65536 follow\\.'));
  } finally {
    server.close();
  }
});
