// The fetch wrapper paying real x402 v2 payments: anvil, the x402 harness
// (tests/x402: token, facilitator, @x402/express resource server) and an
// embedded wardend holding the wallets' keys (x402_stack.ts).
import * as assert from 'assert/strict';
import * as http from 'http';
import {after, before, test} from 'node:test';

import {WardenClient, WardenPaymentDenied, WardenPaymentPending, X402Error, X402SendError} from '../src/index';
import {Agent, PAY_TO, PRICE, X402Stack} from './x402_stack';

let stack: X402Stack;
const clients: WardenClient[] = [];

before(async () => {
  stack = await X402Stack.start();
});
after(() => {
  clients.forEach((c) => c.close());
  stack?.stop();
});

function as(agent: Agent): WardenClient {
  const c = new WardenClient(stack.address, {token: stack.tokens[agent]});
  clients.push(c);
  return c;
}

const payer = (agent: Agent, extra = {}) => ({agentId: agent, walletId: `${agent}_w`, ...extra});

test('pays within budget: the server is paid the price, the operation confirms, the hold settles', async () => {
  const buyer = as('buyer');
  const before = await stack.balanceOf(PAY_TO);
  const r = await buyer.fetch(stack.resourceUrl, undefined, payer('buyer', {memo: 'a report'}));
  assert.equal(r.status, 200);
  assert.equal((await r.json()).ok, true);
  assert.ok(r.x402);
  assert.equal(r.x402.decision.decision, 'ALLOW');
  assert.equal(r.x402.decision.amountUsd, '0.01');
  assert.equal(r.x402.payment.from.toLowerCase(), stack.wallets.buyer);
  assert.equal(r.x402.payment.to.toLowerCase(), PAY_TO);
  assert.equal(r.x402.payment.value, PRICE.toString());
  assert.equal(r.x402.settlement?.success, true);
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);

  const op = await buyer.waitForOperation(r.x402.operation!.operationId, 30_000, 200);
  assert.equal(op.state, 'CONFIRMED', op.error);
  assert.match(op.txHash, /^0x[0-9a-f]{64}$/);
  assert.equal(op.txHash, r.x402.settlement?.transaction);
  const settled = await buyer.get(r.x402.decision.authorizationId);
  assert.equal(settled.status, 'SETTLED');
  const daily = (await buyer.budgetStatus('agent/buyer')).find((l) => l.name === 'daily')!;
  assert.equal(daily.settledUsd, '0.01');
});

test('a response that asks for no payment is returned as it is', async () => {
  const r = await as('buyer').fetch(stack.freeUrl, {headers: {accept: 'application/json'}}, payer('buyer'));
  assert.equal(r.status, 200);
  assert.equal(r.x402, undefined);
  assert.deepEqual(await r.json(), {ok: true});
});

test('over budget: WardenPaymentDenied with the figures, and nothing is paid', async () => {
  const before = await stack.balanceOf(PAY_TO);
  await assert.rejects(as('tight').fetch(stack.resourceUrl, undefined, payer('tight')),
                       (e: WardenPaymentDenied) => {
                         assert.ok(e instanceof WardenPaymentDenied);
                         assert.equal(e.decision.decision, 'DENY');
                         assert.match(e.authorizationId, /^az_/);
                         assert.equal(e.violations[0].code, 'BUDGET_EXCEEDED');
                         assert.equal(e.violations[0].limit, 'daily');
                         assert.match(e.message, /daily/);
                         return true;
                       });
  assert.equal(await stack.balanceOf(PAY_TO), before);
});

test('a host off the agent\'s x402_domains: X402_DOMAIN_NOT_ALLOWED, nothing paid', async () => {
  const before = await stack.balanceOf(PAY_TO);
  await assert.rejects(as('elsewhere').fetch(stack.resourceUrl, undefined, payer('elsewhere')),
                       (e: WardenPaymentDenied) => {
                         assert.ok(e instanceof WardenPaymentDenied);
                         assert.equal(e.violations[0].code, 'X402_DOMAIN_NOT_ALLOWED');
                         assert.match(e.reason, /127\.0\.0\.1/);
                         return true;
                       });
  assert.equal(await stack.balanceOf(PAY_TO), before);
});

test('the same idempotency key pays once', async () => {
  const buyer = as('buyer');
  const before = await stack.balanceOf(PAY_TO);
  const options = payer('buyer', {idempotencyKey: 'report-7'});
  const first = await buyer.fetch(stack.resourceUrl, undefined, options);
  assert.equal(first.status, 200);
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);
  // The replay: Warden asks the token first, sees the payment used (the
  // hold settles) and refuses it; nothing is paid twice.
  await assert.rejects(buyer.fetch(stack.resourceUrl, undefined, options), (e: WardenPaymentDenied) => {
    assert.ok(e instanceof WardenPaymentDenied);
    assert.equal(e.authorizationId, first.x402!.decision.authorizationId);
    assert.equal(e.violations[0].code, 'ALREADY_SETTLED');
    return true;
  });
  assert.equal((await buyer.operation(first.x402!.operation!.operationId)).state, 'CONFIRMED');
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);
});

test('held for approval: WardenPaymentPending, then the same key pays once approved', async () => {
  const careful = as('careful');
  const before = await stack.balanceOf(PAY_TO);
  const pending = await careful.fetch(stack.resourceUrl, undefined, payer('careful')).then(
      () => assert.fail('paid before the approval'), (e: unknown) => e);
  assert.ok(pending instanceof WardenPaymentPending);
  assert.equal(pending.decision.decision, 'PENDING_APPROVAL');
  assert.equal(await stack.balanceOf(PAY_TO), before);

  setTimeout(() => stack.ctl(stack.tokens.alice, 'approvals', 'approve', pending.authorizationId), 500);
  const r = await careful.fetch(stack.resourceUrl, undefined,
                                payer('careful', {idempotencyKey: pending.idempotencyKey,
                                                  waitForApprovalMs: 30_000}));
  assert.equal(r.status, 200);
  assert.equal(r.x402?.decision.authorizationId, pending.authorizationId);
  assert.equal(await stack.balanceOf(PAY_TO), before + PRICE);
});

test('refuses what it cannot pay or send twice, before paying', async () => {
  // A 402 without PAYMENT-REQUIRED (x402 v1), and one asking for another
  // network only.
  const server = http.createServer((req, res) => {
    const accepts = [{scheme: 'exact', network: 'solana:mainnet', amount: '1', asset: 'x', payTo: 'y'}];
    if (req.url === '/v2') {
      res.setHeader('PAYMENT-REQUIRED', Buffer.from(JSON.stringify({x402Version: 2, accepts})).toString('base64'));
    }
    res.writeHead(402, {'content-type': 'application/json'}).end(JSON.stringify({x402Version: 1, accepts}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as {port: number}).port}`;
  try {
    const buyer = as('buyer');
    await assert.rejects(buyer.fetch(`${base}/v1`, undefined, payer('buyer')),
                         (e: Error) => e instanceof X402Error && /x402 v1.*not supported/.test(e.message));
    await assert.rejects(buyer.fetch(`${base}/v2`, undefined, payer('buyer')),
                         (e: Error) => e instanceof X402Error && /no `exact` payment on an EVM network/.test(e.message));
    const stream = new ReadableStream({start: (c) => c.close()});
    await assert.rejects(buyer.fetch(stack.resourceUrl, {method: 'POST', body: stream}, payer('buyer')),
                         (e: Error) => e instanceof TypeError && /^init\.body: only a string or a Uint8Array/.test(e.message));
    await assert.rejects(buyer.fetch(new Request(stack.resourceUrl, {method: 'POST', body: 'x'}), undefined, payer('buyer')),
                         (e: Error) => e instanceof TypeError && /^input: a Request with a body/.test(e.message));
  } finally {
    server.close();
  }
});

test('a signed payment whose request fails: X402SendError with the key to send it again', async () => {
  // A server asking for the harness's payment that drops the connection
  // carrying it.
  const probe = await fetch(stack.resourceUrl);
  await probe.body?.cancel();
  const required = probe.headers.get('payment-required')!;
  const server = http.createServer((req, res) => {
    if (req.headers['payment-signature']) {
      req.socket.destroy();
      return;
    }
    res.writeHead(402, {'PAYMENT-REQUIRED': required}).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as {port: number}).port}/paid`;
    const before = await stack.balanceOf(PAY_TO);
    await assert.rejects(as('buyer').fetch(url, undefined, payer('buyer', {idempotencyKey: 'dropped-1'})),
                         (e: X402SendError) => {
                           assert.ok(e instanceof X402SendError);
                           assert.equal(e.idempotencyKey, 'dropped-1');
                           assert.equal(e.decision.decision, 'ALLOW');
                           assert.equal(e.operation?.state, 'SUBMITTED');
                           assert.match(e.message, /sending the payment failed \(fetch failed: .+\); fetch again with idempotencyKey dropped-1/);
                           return true;
                         });
    assert.equal(await stack.balanceOf(PAY_TO), before);
  } finally {
    server.close();
  }
});
