// The TypeScript client against a real wardend (embedded mode, tokens on;
// WARDEND and WARDENCTL name the binaries: run_tests.sh sets them), and its
// retry logic against a fake server that fails on purpose.
import * as assert from 'assert/strict';
import {ChildProcess, execFileSync, spawn} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import {afterEach, beforeEach, test} from 'node:test';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import {WardenClient, WardenError} from '../src/index';

// The policy all three client suites share.
const BUNDLE = path.resolve(__dirname, '../../../testdata/bundle.yaml');
const TO = '0x00000000000000000000000000000000000000ff';

function binary(name: string): string {
  const p = process.env[name];
  if (!p) throw new Error(`${name} must name the built binary (run_tests.sh)`);
  return p;
}

class Wardend {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-ts-'));
  process!: ChildProcess;
  address = '';
  tokens: Record<string, string> = {};

  async start(listen = '127.0.0.1:0'): Promise<void> {
    const tokenFile = path.join(this.dir, 'admin.tok');
    // The audit file keeps every decision, and its idempotency key, across
    // restarts; tokens live in memory (a new admin token at each start).
    this.process = spawn(binary('WARDEND'), [
      '--embedded', '--listen', listen, '--bundle', BUNDLE,
      '--audit-file', path.join(this.dir, 'audit.jsonl'), '--bootstrap-token-file', tokenFile,
    ], {stdio: ['ignore', 'pipe', 'ignore']});
    this.address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('wardend did not start')), 30_000);
      readline.createInterface({input: this.process.stdout!}).on('line', (line) => {
        if (line.startsWith('wardend listening on ')) {
          clearTimeout(timer);
          resolve(line.slice(line.lastIndexOf(' ') + 1));
        }
      });
    });
    this.tokens.admin = fs.readFileSync(tokenFile, 'utf8').trim();
    this.tokens.agent_a = this.mint('agent/agent_a', 'agent');
    this.tokens.alice = this.mint('user/alice', 'approver');
  }

  ctl(token: string, ...args: string[]): string {
    return execFileSync(binary('WARDENCTL'), ['--server', this.address, '--token', token, ...args],
                        {encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe']}).trim();
  }

  mint(principal: string, role: string): string {
    return this.ctl(this.tokens.admin, 'token', 'create', '--principal', principal, '--role', role);
  }

  /** Kills it and starts it again on the same address. */
  async restart(): Promise<void> {
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
    await this.start(this.address);
  }

  stop(): void {
    this.process.kill('SIGKILL');
    fs.rmSync(this.dir, {recursive: true, force: true});
  }
}

let w: Wardend;
let agent: WardenClient;
beforeEach(async () => {
  w = new Wardend();
  await w.start();
  agent = new WardenClient(w.address, {token: w.tokens.agent_a});
});
afterEach(() => {
  agent.close();
  w.stop();
});

const spend = (amount: bigint, extra = {}) =>
    ({agentId: 'agent_a', walletId: 'w1', asset: 'USDC', amount, destination: TO, ...extra});

test('allow, then settle releases the rest', async () => {
  const d = await agent.authorize(spend(40_000_000n));
  assert.equal(d.decision, 'ALLOW');
  assert.ok(d.allowed && !d.pending && !d.denied);
  assert.equal(d.amountUsd, '40.00');
  assert.ok(d.holdExpiresAt instanceof Date && d.holdExpiresAt.getTime() > Date.now());
  const settled = await agent.settle(d.authorizationId, '30000000', '0x' + 'ab'.repeat(32));
  assert.equal(settled.status, 'SETTLED');
  const daily = (await agent.budgetStatus('agent/agent_a')).find((l) => l.name === 'daily')!;
  assert.equal(daily.usedUsd, '30.00');
  assert.equal(daily.remainingUsd, '470.00');
});

test('a denial is a decision with its figures', async () => {
  for (let i = 0; i < 5; ++i) assert.ok((await agent.authorize(spend(99_000_000n))).allowed);
  const d = await agent.authorize(spend(99_000_000n));
  assert.ok(d.denied);
  assert.equal(d.violations[0].code, 'BUDGET_EXCEEDED');
  assert.equal(d.violations[0].limit, 'daily');
  assert.equal(d.violations[0].limitUsd, '500.00');
  assert.match(d.reason, /exceeds/);
});

test('the same key is one spend', async () => {
  const first = await agent.authorize(spend(60_000_000n, {idempotencyKey: 'order-1187'}));
  const again = await agent.authorize(spend(60_000_000n, {idempotencyKey: 'order-1187'}));
  assert.equal(again.authorizationId, first.authorizationId);
  assert.ok(again.replayed && !first.replayed);
  const daily = (await agent.budgetStatus('agent/agent_a')).find((l) => l.name === 'daily')!;
  assert.equal(daily.usedUsd, '60.00');
});

test('waits for an approval, and gives up at its timeout', async () => {
  const d = await agent.authorize(spend(150_000_000n));
  assert.ok(d.pending);
  await assert.rejects(agent.waitForDecision(d.authorizationId, 1500),
                       (e: WardenError) => e.codeName === 'DEADLINE_EXCEEDED' &&
                           /still PENDING_APPROVAL/.test(e.details));
  setTimeout(() => w.ctl(w.tokens.alice, 'approvals', 'approve', d.authorizationId), 500);
  const final = await agent.waitForDecision(d.authorizationId, 30_000);
  assert.equal(final.decision, 'ALLOW');
  assert.ok(final.allowed);
});

test('errors are typed and name the field', async () => {
  await assert.rejects(agent.authorize(spend(1n, {destination: '0xnope'})),
                       (e: WardenError) => e.code === grpc.status.INVALID_ARGUMENT &&
                           e.details.startsWith('destination'));
  await assert.rejects(agent.authorize({...spend(1n), agentId: 'agent_b', walletId: 'w2'}),
                       (e: WardenError) => e.codeName === 'PERMISSION_DENIED');
  await assert.rejects(agent.authorize(spend(2n ** 200n)),
                       (e: WardenError) => e.codeName === 'INVALID_ARGUMENT' && /amount/.test(e.details));
  for (const bad of ['-1', '1.5', '', '1e6']) {
    await assert.rejects(agent.authorize(spend(0n, {amount: bad})), /amount/);
  }
  const anonymous = new WardenClient(w.address);
  await assert.rejects(anonymous.whoami(), (e: WardenError) => e.codeName === 'UNAUTHENTICATED');
  anonymous.close();
  assert.deepEqual(await agent.whoami(), {orgId: 'acme', principal: 'agent/agent_a', roles: ['agent']});
});

// A fake AuthorizationService answering UNAVAILABLE `failures` times.
async function flaky(failures: number, code = grpc.status.UNAVAILABLE) {
  const definition = protoLoader.loadSync('warden/v1/authorization.proto', {
    includeDirs: [path.resolve(__dirname, '../../proto')], keepCase: true, longs: String,
    enums: String, defaults: true, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const keys: string[] = [];
  const server = new grpc.Server();
  server.addService(pkg.warden.v1.AuthorizationService.service, {
    Authorize(call: any, callback: any) {
      keys.push(call.request.idempotency_key);
      if (keys.length <= failures) return callback({code, details: 'redis: stopped'});
      callback(null, {decision: 'DECISION_ALLOW', status: 'AUTHORIZATION_STATUS_HELD',
                      authorization_id: 'az_1', amount_usd: '1.00'});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
                       (e, p) => (e ? reject(e) : resolve(p))));
  return {address: `127.0.0.1:${port}`, keys, server};
}

test('retries UNAVAILABLE with the same key, then gives up; never retries a refusal', async () => {
  const ok = await flaky(2);
  const c = new WardenClient(ok.address, {token: 't', backoffMs: 5});
  assert.ok((await c.authorize(spend(1n))).allowed);
  assert.equal(ok.keys.length, 3);
  assert.equal(new Set(ok.keys).size, 1);
  assert.match(ok.keys[0], /^[0-9a-f]{32}$/);
  await c.authorize(spend(1n));
  assert.notEqual(ok.keys[3], ok.keys[0]);  // Each spend its own key.
  c.close();
  ok.server.forceShutdown();

  const down = await flaky(10);
  const d = new WardenClient(down.address, {token: 't', retries: 2, backoffMs: 5});
  await assert.rejects(d.authorize(spend(1n)), (e: WardenError) => e.codeName === 'UNAVAILABLE');
  assert.equal(down.keys.length, 3);
  d.close();
  down.server.forceShutdown();

  const refused = await flaky(1, grpc.status.INVALID_ARGUMENT);
  const r = new WardenClient(refused.address, {token: 't', backoffMs: 5});
  await assert.rejects(r.authorize(spend(1n)), (e: WardenError) => e.codeName === 'INVALID_ARGUMENT');
  assert.equal(refused.keys.length, 1);
  r.close();
  refused.server.forceShutdown();
});

test('the example pays and reports what is left', () => {
  const out = execFileSync(process.execPath, [
    path.resolve(__dirname, '../examples/agent.js'), 'agent_a', 'w1', 'USDC', '25000000', TO,
  ], {encoding: 'utf8', env: {...process.env, WARDEN_SERVER: w.address, WARDEN_TOKEN: w.tokens.agent_a},
      timeout: 60_000});
  assert.match(out, /^ALLOW az_/);
  assert.match(out, /SETTLED/);
  assert.match(out, /daily \(rolling:24h\): \$475\.00 left/);
});

test('a retry after a restart is the same spend', async () => {
  const first = await agent.authorize(spend(70_000_000n, {idempotencyKey: 'invoice-42'}));
  await w.restart();
  const c = new WardenClient(w.address, {token: w.tokens.agent_a});
  const again = await c.authorize(spend(70_000_000n, {idempotencyKey: 'invoice-42'}));
  assert.ok(again.replayed);
  assert.equal(again.authorizationId, first.authorizationId);
  const daily = (await c.budgetStatus('agent/agent_a')).find((l) => l.name === 'daily')!;
  assert.equal(daily.usedUsd, '70.00');
  c.close();
});
