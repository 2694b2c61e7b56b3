// warden-mcp over stdio, driven by the MCP SDK's own client, against a real
// wardend (embedded mode, tokens on; WARDEND and WARDENCTL name the
// binaries: run_tests.sh sets them).
import * as assert from 'assert/strict';
import {ChildProcess, execFileSync, spawn, spawnSync} from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import {after, before, test} from 'node:test';

import {Client} from '@modelcontextprotocol/sdk/client/index.js';
import {StdioClientTransport} from '@modelcontextprotocol/sdk/client/stdio.js';
import {StreamableHTTPClientTransport} from '@modelcontextprotocol/sdk/client/streamableHttp.js';

// The policy all three client suites share.
const BUNDLE = path.resolve(__dirname, '../../../testdata/bundle.yaml');
const TO = '0x00000000000000000000000000000000000000ff';
const BIN = path.resolve(__dirname, '../../bin/warden-mcp');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-mcp-'));
let wardend: ChildProcess;
let address = '';
const tokens: Record<string, string> = {};
let mcp: Client;

function binary(name: string): string {
  const p = process.env[name];
  if (!p) throw new Error(`${name} must name the built binary (run_tests.sh)`);
  return p;
}

function ctl(token: string, ...args: string[]): string {
  return execFileSync(binary('WARDENCTL'), ['--server', address, '--token', token, ...args],
                      {encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe']}).trim();
}

before(async () => {
  wardend = spawn(binary('WARDEND'), [
    '--embedded', '--listen', '127.0.0.1:0', '--bundle', BUNDLE,
    '--audit-file', path.join(dir, 'audit.jsonl'), '--bootstrap-token-file', path.join(dir, 'admin.tok'),
  ], {stdio: ['ignore', 'pipe', 'ignore']});
  address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('wardend did not start')), 30_000);
    readline.createInterface({input: wardend.stdout!}).on('line', (line) => {
      if (line.startsWith('wardend listening on ')) {
        clearTimeout(timer);
        resolve(line.slice(line.lastIndexOf(' ') + 1));
      }
    });
  });
  tokens.admin = fs.readFileSync(path.join(dir, 'admin.tok'), 'utf8').trim();
  for (const [name, principal, role] of [['agent_a', 'agent/agent_a', 'agent'],
                                         ['alice', 'user/alice', 'approver']]) {
    tokens[name] = ctl(tokens.admin, 'token', 'create', '--principal', principal, '--role', role);
  }
  mcp = new Client({name: 'warden-test', version: '1.0.0'});
  await mcp.connect(new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env: {WARDEN_SERVER: address, WARDEN_TOKEN: tokens.agent_a, PATH: process.env.PATH ?? ''},
    stderr: 'ignore',
  }));
});

after(async () => {
  await mcp?.close();
  wardend?.kill('SIGKILL');
  fs.rmSync(dir, {recursive: true, force: true});
});

type Result = {content: {type: string; text: string}[]; structuredContent?: any; isError?: boolean};
const call = async (name: string, args: Record<string, unknown>) =>
    (await mcp.callTool({name, arguments: args})) as Result;

test('lists its tools, each with a description and a schema, none taking an agent', async () => {
  const {tools} = await mcp.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(),
                   ['authorize_spend', 'check_budget', 'get_operation', 'pay_x402', 'submit_transaction',
                    'wait_for_approval']);
  for (const t of tools) {
    assert.ok(t.description && t.description.length > 20, t.name);
    assert.equal(t.inputSchema.type, 'object');
    assert.ok(!('agent_id' in (t.inputSchema.properties ?? {})), t.name);
  }
  const pay = tools.find((t) => t.name === 'pay_x402')!.inputSchema as any;
  assert.deepEqual(pay.required.sort(), ['url', 'wallet_id']);
  assert.deepEqual(Object.keys(pay.properties).sort(),
                   ['body', 'idempotency_key', 'memo', 'method', 'url', 'wallet_id']);
  assert.equal(pay.properties.url.maxLength, 2048);
  assert.deepEqual(pay.properties.method.enum, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
  assert.equal(pay.properties.body.maxLength, 1 << 20);
});

test('authorizes as its agent and reports the budget left', async () => {
  const r = await call('authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: '40000000',
                                           destination: TO, memo: 'api credits'});
  assert.ok(!r.isError, r.content[0].text);
  assert.match(r.content[0].text, /^ALLOW az_\w+: \$40\.00 is held/);
  assert.equal(r.structuredContent.decision, 'ALLOW');
  const budget = await call('check_budget', {});
  assert.match(budget.content[0].text, /agent\/agent_a daily \(rolling:24h\): \$460\.00 left of \$500\.00/);
  const daily = budget.structuredContent.limits.find((l: any) => l.name === 'daily');
  assert.equal(daily.remaining_usd, '460.00');
});

test('a pending spend says not to sign, and waiting returns the approval', async () => {
  const r = await call('authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: '150000000',
                                           destination: TO});
  assert.equal(r.structuredContent.decision, 'PENDING_APPROVAL');
  assert.match(r.content[0].text, /do not sign yet.*wait_for_approval/);
  const id = r.structuredContent.authorization_id;
  const still = await call('wait_for_approval', {authorization_id: id, timeout_seconds: 1});
  assert.match(still.content[0].text, /still awaiting approval: do not sign/);
  setTimeout(() => ctl(tokens.alice, 'approvals', 'approve', id), 500);
  const done = await call('wait_for_approval', {authorization_id: id, timeout_seconds: 30});
  assert.equal(done.structuredContent.decision, 'ALLOW');
  assert.match(done.content[0].text, /Sign and send it now/);
});

test('a denial says why; bad input and refusals are tool errors naming the field', async () => {
  const deny = await call('authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: '900000000',
                                              destination: TO});
  assert.equal(deny.structuredContent.decision, 'DENY');
  assert.equal(deny.structuredContent.violations[0].code, 'BUDGET_EXCEEDED');
  assert.match(deny.content[0].text, /^DENY .*do not sign/);

  const badAmount = await call('authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: '1.5',
                                                   destination: TO});
  assert.ok(badAmount.isError);
  assert.match(badAmount.content[0].text, /amount/);
  const other = await call('authorize_spend', {wallet_id: 'w2', asset: 'USDC', amount: '1',
                                               destination: TO});
  assert.ok(other.isError);
  assert.match(other.content[0].text, /wallet_id: wallet "w2" belongs to agent "agent_b"/);
  const badAddress = await call('authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: '1',
                                                    destination: '0xnope'});
  assert.match(badAddress.content[0].text, /INVALID_ARGUMENT: destination/);
  // Out-of-bounds input is refused by the schema, before any call.
  for (const [tool, args] of [
    ['authorize_spend', {wallet_id: 'w'.repeat(1 << 20), asset: 'USDC', amount: '1', destination: TO}],
    ['authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: '1'.repeat(41), destination: TO}],
    ['authorize_spend', {wallet_id: 'w1', asset: 'USDC', amount: 5, destination: TO}],
    ['wait_for_approval', {authorization_id: 'az_1', timeout_seconds: 0}],
    ['wait_for_approval', {authorization_id: 'az_1', timeout_seconds: 2 ** 63}],
    ['wait_for_approval', {authorization_id: 'az_1', timeout_seconds: -1}],
    ['pay_x402', {url: `https://example.com/${'a'.repeat(2048)}`, wallet_id: 'w1'}],
    ['pay_x402', {url: 'ftp://example.com/report', wallet_id: 'w1'}],
    ['pay_x402', {url: 'https://example.com/report', wallet_id: 'w1', method: 'HEAD'}],
    ['pay_x402', {url: 'https://example.com/report', wallet_id: 'w1', method: 'POST',
                  body: 'b'.repeat((1 << 20) + 1)}],
  ] as const) {
    const r = await call(tool, args as Record<string, unknown>);
    assert.ok(r.isError, `${tool} ${JSON.stringify(args).slice(0, 80)}`);
  }
  const unknown = await call('get_operation', {operation_id: 'op_missing'});
  assert.ok(unknown.isError);
  const getBody = await call('pay_x402', {url: 'https://example.com/report', wallet_id: 'w1', body: '{}'});
  assert.ok(getBody.isError);
  assert.match(getBody.content[0].text, /^body: a GET request carries no body/);
  // A port nothing listens on: the fetch's own error, naming the URL.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const nowhere = `http://127.0.0.1:${(closed.address() as {port: number}).port}/report`;
  await new Promise((resolve) => closed.close(resolve));
  const refused = await call('pay_x402', {url: nowhere, wallet_id: 'w1', method: 'POST', body: '{}'});
  assert.ok(refused.isError);
  assert.match(refused.content[0].text, new RegExp(`^POST ${nowhere}: fetch failed: .*ECONNREFUSED`));
});

test('refuses to start without an agent token', () => {
  const none = spawnSync(process.execPath, [BIN], {env: {WARDEN_SERVER: address}, encoding: 'utf8',
                                                  timeout: 30_000});
  assert.equal(none.status, 2);
  assert.match(none.stderr, /WARDEN_TOKEN: required/);
  const user = spawnSync(process.execPath, [BIN], {
    env: {WARDEN_SERVER: address, WARDEN_TOKEN: tokens.alice}, encoding: 'utf8', timeout: 30_000});
  assert.equal(user.status, 2);
  assert.match(user.stderr, /belongs to user\/alice, not an agent/);
});

test('serves streamable HTTP as an option', async () => {
  const server = spawn(process.execPath, [BIN, '--http', '127.0.0.1:0'], {
    env: {WARDEN_SERVER: address, WARDEN_TOKEN: tokens.agent_a}, stdio: ['ignore', 'ignore', 'pipe']});
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('warden-mcp --http did not start')), 30_000);
      readline.createInterface({input: server.stderr!}).on('line', (line) => {
        const m = /streamable HTTP on (\S+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const client = new Client({name: 'warden-http-test', version: '1.0.0'});
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const r = (await client.callTool({name: 'check_budget', arguments: {}})) as Result;
    assert.ok(!r.isError, r.content[0].text);
    assert.match(r.content[0].text, /agent\/agent_a daily/);
    await client.close();
  } finally {
    server.kill('SIGKILL');
  }
});
