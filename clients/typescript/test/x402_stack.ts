// A real x402 payment's world, for the suites that pay through Warden
// (this client's and warden-mcp's, which loads it from this package):
// anvil, tests/x402/harness.mjs on it (an EIP-3009 token, an x402
// facilitator and an @x402/express resource server) and an embedded
// wardend holding the agents' local wallets, with a bundle written once the
// token's address is known. WARDEND, WARDENCTL and ANVIL name the binaries
// (run_tests.sh sets them). Loopback only; start() stops what it started
// when it fails, and every process dies with the test's.
import {ChildProcess, execFileSync, spawn} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';

const HARNESS = path.resolve(__dirname, '../../../../tests/x402/harness.mjs');

/** What GET /paid costs: base units of the test token (6 decimals), $0.01. */
export const PRICE = 10_000n;
/** The resource server's payee. */
export const PAY_TO = '0x000000000000000000000000000000000000a402';

/** The agents, each with one local wallet `<agent>_w` holding 1,000 tokens:
 * buyer may pay 127.0.0.1 up to $0.05 a day; tight only $0.005; elsewhere
 * only hosts under example.com; careful needs user/alice's approval above
 * $0.001. */
export type Agent = 'buyer' | 'tight' | 'elsewhere' | 'careful';
const AGENTS: Record<Agent, string> = {
  buyer: 'limits: [{name: daily, usd: "0.05", window: "rolling:24h"}]\n' +
         '    rules: {x402_domains: ["127.0.0.1"]}',
  tight: 'limits: [{name: daily, usd: "0.005", window: "rolling:24h"}]\n' +
         '    rules: {x402_domains: ["127.0.0.1"]}',
  elsewhere: 'limits: [{name: daily, usd: "1", window: "rolling:24h"}]\n' +
             '    rules: {x402_domains: ["*.example.com"]}',
  careful: 'limits: [{name: daily, usd: "1", window: "rolling:24h"}]\n' +
           '    rules: {x402_domains: ["127.0.0.1"]}\n' +
           '    approvals: {approval_above_usd: "0.001", approvers: [user/alice]}',
};
const MINTED = '1000000000';
const START_TIMEOUT_MS = 60_000;
// wardend's sweep, which polls open operations in the background, at its
// slowest: a payment's operation moves only when a test asks
// (GetOperation polls at once), so that a replay before and one after
// Warden saw the payment used are each tested on purpose.
const SWEEP_INTERVAL_MS = '3600000';
const PASSWORD = 'x402-test-password';

function binary(name: string): string {
  const p = process.env[name];
  if (!p) throw new Error(`${name} must name the binary (run_tests.sh)`);
  return p;
}

/** A child whose stderr's tail is kept, for the error when it fails. */
class Child {
  private stderr = '';
  constructor(readonly name: string, readonly proc: ChildProcess) {
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4096);
    });
  }

  /** The first stdout line matching `pattern`; rejects when the child
   * exits first or after `START_TIMEOUT_MS`. Later lines are drained. */
  line(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} ${why}; its stderr ends:\n${this.stderr}`));
      };
      const timer = setTimeout(() => fail(`was not ready within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: string | null) => fail(`exited (${signal ?? code})`);
      this.proc.once('exit', onExit);
      readline.createInterface({input: this.proc.stdout!}).on('line', (line) => {
        const match = pattern.exec(line);
        if (match) {
          clearTimeout(timer);
          this.proc.off('exit', onExit);
          resolve(match);
        }
      });
    });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

export class X402Stack {
  /** wardend's gRPC address. */
  address = '';
  /** API tokens: admin, alice (approver) and each agent's. */
  readonly tokens: Record<string, string> = {};
  /** Each agent's wallet address (lowercase). */
  readonly wallets = {} as Record<Agent, string>;
  /** The harness's endpoints: GET /paid costs PRICE, GET /free nothing. */
  resourceUrl = '';
  freeUrl = '';
  /** The token's contract. */
  asset = '';
  private rpc = '';
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-x402-'));
  private readonly children: Child[] = [];
  private readonly killAll = () => this.children.forEach((c) => c.kill());

  private constructor() {
    process.once('exit', this.killAll);
  }

  static async start(): Promise<X402Stack> {
    const stack = new X402Stack();
    try {
      await stack.boot();
      return stack;
    } catch (e) {
      stack.stop();
      throw e;
    }
  }

  stop(): void {
    this.killAll();
    process.off('exit', this.killAll);
    fs.rmSync(this.dir, {recursive: true, force: true});
  }

  /** Runs wardenctl against this wardend with `token`; its stdout. */
  ctl(token: string, ...args: string[]): string {
    return execFileSync(binary('WARDENCTL'), ['--server', this.address, '--token', token, ...args],
                        {encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe']}).trim();
  }

  /** The token balance of `holder` on chain now, in base units. */
  async balanceOf(holder: string): Promise<bigint> {
    const data = '0x70a08231' + holder.slice(2).toLowerCase().padStart(64, '0');
    const response = await fetch(this.rpc, {
      method: 'POST', headers: {'content-type': 'application/json'},
      body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'eth_call',
                            params: [{to: this.asset, data}, 'latest']}),
      signal: AbortSignal.timeout(10_000),
    });
    const {result, error} = (await response.json()) as {result?: string; error?: unknown};
    if (typeof result !== 'string') throw new Error(`balanceOf(${holder}): ${JSON.stringify(error)}`);
    return BigInt(result);
  }

  private spawn(name: string, command: string, args: string[]): Child {
    const child = new Child(name, spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe']}));
    this.children.push(child);
    return child;
  }

  private async boot(): Promise<void> {
    const passwordFile = path.join(this.dir, 'password');
    fs.writeFileSync(passwordFile, PASSWORD);
    const keystore = path.join(this.dir, 'keystore');
    for (const agent of Object.keys(AGENTS) as Agent[]) {
      this.wallets[agent] = execFileSync(binary('WARDENCTL'), [
        'wallet', 'create-local', '--keystore', keystore, '--password-file', passwordFile,
        '--scrypt-n', '1024',
      ], {encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe']}).trim().toLowerCase();
    }

    const anvil = this.spawn('anvil', binary('ANVIL'), ['--host', '127.0.0.1', '--port', '0']);
    this.rpc = `http://${(await anvil.line(/^Listening on (\S+)$/))[1]}`;

    const harness = this.spawn('the x402 harness', process.execPath, [
      HARNESS, '--rpc', this.rpc, '--pay-to', PAY_TO, '--price', PRICE.toString(), '--mint', MINTED,
      ...Object.values(this.wallets).flatMap((w) => ['--mint-to', w]),
    ]);
    const ready = JSON.parse((await harness.line(/^\{.*\}$/))[0]) as
        {token: string; resourceUrl: string; freeUrl: string};
    this.asset = ready.token;
    this.resourceUrl = ready.resourceUrl;
    this.freeUrl = ready.freeUrl;

    const bundle = path.join(this.dir, 'bundle.yaml');
    fs.writeFileSync(bundle, [
      'org: {id: payco}',
      'departments: [{id: research}]',
      'agents:',
      ...Object.entries(AGENTS).map(([agent, policy]) => [
        `  - id: ${agent}`,
        '    department: research',
        `    ${policy}`,
        `    wallets: [{id: ${agent}_w, vendor: local, chain: anvil, address: "${this.wallets[agent as Agent]}"}]`,
      ].join('\n')),
      'assets:',
      `  - {symbol: WUSD, decimals: 6, price_usd: "1", chains: {anvil: "${this.asset}"}}`,
      '',
    ].join('\n'));
    const tokenFile = path.join(this.dir, 'admin.tok');
    const wardend = this.spawn('wardend', binary('WARDEND'), [
      '--embedded', '--listen', '127.0.0.1:0', '--bundle', bundle,
      '--audit-file', path.join(this.dir, 'audit.jsonl'), '--bootstrap-token-file', tokenFile,
      '--keystore', keystore, '--keystore-password-file', passwordFile,
      '--chain-rpc', `anvil=${this.rpc}`, '--sweep-interval-ms', SWEEP_INTERVAL_MS,
    ]);
    this.address = (await wardend.line(/^wardend listening on (\S+)$/))[1];

    this.tokens.admin = fs.readFileSync(tokenFile, 'utf8').trim();
    this.tokens.alice = this.ctl(this.tokens.admin, 'token', 'create', '--principal', 'user/alice',
                                 '--role', 'approver');
    for (const agent of Object.keys(AGENTS)) {
      this.tokens[agent] = this.ctl(this.tokens.admin, 'token', 'create', '--principal', `agent/${agent}`,
                                    '--role', 'agent');
    }
  }
}
