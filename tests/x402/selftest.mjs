#!/usr/bin/env node
// End-to-end self test of harness.mjs with x402's own client side:
// starts anvil on a free loopback port, starts the harness against it, and
// pays GET /paid with @x402/fetch + @x402/evm's exact client scheme signing
// as anvil's dev account 1. Then checks the money moved on chain exactly
// once, and that replaying the very same PAYMENT-SIGNATURE header is refused.
//
//   npm ci --prefix tests/x402 && node tests/x402/selftest.mjs
//
// Exits 0 when every check passes, 1 otherwise; the last line is
// "x402-selftest: N passed, M failed". anvil and the harness are stopped on
// every exit path; the whole run is bounded by RUN_TIMEOUT_MS (installing
// anvil first, when it is missing, is bounded separately).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  decodePaymentSignatureHeader,
} from "@x402/core/http";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { createPublicClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ANVIL = `${REPO_ROOT}.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`;
const HARNESS = fileURLToPath(new URL("./harness.mjs", import.meta.url));

/** anvil dev account 1 pays; dev account 2 is paid. */
const PAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const PAY_TO = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const PRICE = 10_000n;
const MINT = 1_000_000_000n;

const RUN_TIMEOUT_MS = 55_000;
const INSTALL_TIMEOUT_MS = 600_000;
const STOP_GRACE_MS = 2_000;

const log = (...args) => console.error("[x402-selftest]", ...args);
const contract = (name) => JSON.parse(readFileSync(new URL(`./contracts/${name}.json`, import.meta.url), "utf8"));

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

const children = [];

const isRunning = (child) => child.exitCode === null && child.signalCode === null;

function start(command, args) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  return child;
}

/**
 * Resolves with the match of the first stdout line of `child` that matches
 * `pattern`; rejects if the child exits first. Later lines are still read
 * (and dropped) so that a chatty child never blocks on a full pipe.
 */
function waitForLine(child, pattern, name) {
  return new Promise((resolve, reject) => {
    const onExit = (code, signal) => reject(new Error(`${name} exited (${signal ?? `status ${code}`}) before it was ready`));
    child.once("exit", onExit);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = pattern.exec(line);
      if (match) {
        child.off("exit", onExit);
        resolve(match);
      }
    });
  });
}

/** Sends SIGTERM, then SIGKILL after a grace period. */
async function stop(child) {
  if (!isRunning(child)) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const graceful = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (!graceful) child.kill("SIGKILL");
}

// Last resort for paths that skip the orderly stop (uncaught errors, exit()).
process.on("exit", () => {
  for (const child of children) if (isRunning(child)) child.kill("SIGKILL");
});

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

let passed = 0;

async function check(name, fn) {
  await fn();
  passed += 1;
  console.log(`ok ${passed} - ${name}`);
}

function ensureAnvil() {
  if (existsSync(ANVIL)) return;
  log("anvil missing; running deploy/dev/install-tools.sh");
  const install = spawnSync("bash", ["deploy/dev/install-tools.sh"], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    timeout: INSTALL_TIMEOUT_MS,
  });
  if (install.status !== 0 || !existsSync(ANVIL)) {
    throw new Error(`could not install anvil (install-tools.sh: ${install.error?.message ?? `status ${install.status}`})`);
  }
}

async function run() {
  const startedAt = Date.now();

  await check("committed contract JSON matches the .sol sources", () => {
    for (const name of ["EIP3009Token", "Multicall3"]) {
      const artifact = contract(name);
      const source = readFileSync(new URL(`./contracts/${artifact.source}`, import.meta.url));
      assert.equal(
        createHash("sha256").update(source).digest("hex"),
        artifact.sourceSha256,
        `${name}.json is stale: run node tests/x402/contracts/compile.mjs`,
      );
    }
  });

  const anvil = start(ANVIL, ["--host", "127.0.0.1", "--port", "0"]);
  const [, anvilAddress] = await waitForLine(anvil, /^Listening on (\S+)$/, "anvil");
  const rpc = `http://${anvilAddress}`;
  log(`anvil on ${rpc}`);

  const payer = privateKeyToAccount(PAYER_KEY);
  const harness = start(process.execPath, [
    HARNESS,
    ...["--rpc", rpc, "--pay-to", PAY_TO, "--price", PRICE.toString()],
    ...["--mint-to", payer.address, "--mint", MINT.toString()],
  ]);
  const ready = JSON.parse((await waitForLine(harness, /^\{.*\}$/, "harness"))[0]);
  log("harness ready:", JSON.stringify(ready));

  const chain = createPublicClient({ transport: http(rpc) });
  const token = contract("EIP3009Token");
  const read = (functionName, args) => chain.readContract({ address: ready.token, abi: token.abi, functionName, args });
  const stats = async () => (await fetch(ready.statsUrl)).json();

  await check("ready line describes the deployment", async () => {
    assert.equal(ready.chainId, await chain.getChainId());
    assert.equal(ready.network, `eip155:${ready.chainId}`);
    assert.equal(ready.payTo, PAY_TO);
    assert.equal(await read("name"), "Warden Test USD");
    assert.equal(await read("version"), "2");
    assert.equal(await read("decimals"), 6);
    assert.equal(await read("balanceOf", [payer.address]), MINT);
  });

  await check("GET /free needs no payment", async () => {
    const response = await fetch(ready.freeUrl);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true });
  });

  await check("unpaid GET /paid is 402 with an x402 v2 PAYMENT-REQUIRED header", async () => {
    const response = await fetch(ready.resourceUrl);
    assert.equal(response.status, 402);
    const header = response.headers.get("PAYMENT-REQUIRED");
    assert.ok(header, "no PAYMENT-REQUIRED header");
    const required = decodePaymentRequiredHeader(header);
    assert.equal(required.x402Version, 2);
    assert.equal(required.resource.url, ready.resourceUrl);
    assert.deepEqual(required.accepts, [
      {
        scheme: "exact",
        network: ready.network,
        amount: PRICE.toString(),
        asset: ready.token,
        payTo: PAY_TO,
        maxTimeoutSeconds: 60,
        extra: { name: "Warden Test USD", version: "2" },
      },
    ]);
  });

  // The payment, through x402's client; the header it sends is kept for the replay.
  let sentHeader;
  const recordingFetch = (request) => {
    sentHeader = request.headers.get("PAYMENT-SIGNATURE") ?? sentHeader;
    return fetch(request);
  };
  // x402Client's spend controls only pay known stablecoins unless told otherwise.
  const client = registerExactEvmScheme(new x402Client(), { signer: payer, networks: [ready.network] }).setSpendControls({
    allowedAssets: [{ network: ready.network, asset: ready.token, maxAmountPerPayment: PRICE.toString() }],
  });
  const payingFetch = wrapFetchWithPayment(recordingFetch, client);
  const balanceBefore = await read("balanceOf", [PAY_TO]);

  let settlement;
  await check("paid GET /paid is 200 and settles on chain", async () => {
    const response = await payingFetch(ready.resourceUrl);
    assert.equal(response.status, 200, `status ${response.status}: ${await response.clone().text()}`);
    assert.deepEqual(await response.json(), { ok: true, paid: 1 });
    settlement = decodePaymentResponseHeader(response.headers.get("PAYMENT-RESPONSE"));
    assert.equal(settlement.success, true);
    assert.equal(settlement.network, ready.network);
    assert.equal(settlement.payer, payer.address);
    const receipt = await chain.getTransactionReceipt({ hash: settlement.transaction });
    assert.equal(receipt.status, "success");
  });

  const sent = decodePaymentSignatureHeader(sentHeader);
  await check("payTo gained exactly the price, the payer lost it", async () => {
    assert.equal(await read("balanceOf", [PAY_TO]), balanceBefore + PRICE);
    assert.equal(await read("balanceOf", [payer.address]), MINT - PRICE);
  });

  await check("the authorization's nonce is used on chain", async () => {
    assert.equal(sent.payload.authorization.from, payer.address);
    assert.equal(await read("authorizationState", [payer.address, sent.payload.authorization.nonce]), true);
  });

  await check("/stats records the settlement", async () => {
    const recorded = await stats();
    assert.equal(recorded.paid, 1);
    assert.deepEqual(recorded.settledTransactions, [settlement.transaction]);
    assert.equal(recorded.lastSettleError, null);
  });

  await check("replaying the same PAYMENT-SIGNATURE is refused and moves nothing", async () => {
    const response = await fetch(ready.resourceUrl, { headers: { "PAYMENT-SIGNATURE": sentHeader } });
    assert.equal(response.status, 402);
    const refusal = decodePaymentRequiredHeader(response.headers.get("PAYMENT-REQUIRED"));
    assert.equal(refusal.error, "invalid_exact_evm_nonce_already_used");
    assert.equal(await read("balanceOf", [PAY_TO]), balanceBefore + PRICE);
    const recorded = await stats();
    assert.equal(recorded.paid, 1);
    assert.match(recorded.lastVerifyError, /^invalid_exact_evm_nonce_already_used/);
  });

  log("PAYMENT-SIGNATURE sent by @x402/fetch, decoded:");
  console.error(JSON.stringify(sent, null, 2));
  log(`finished in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------

let finishing = false;

async function finish(error) {
  if (finishing) return;
  finishing = true;
  if (error) console.log(`FAIL - ${error.message}`);
  await Promise.all(children.map(stop));
  console.log(`x402-selftest: ${passed} passed, ${error ? 1 : 0} failed`);
  process.exit(error ? 1 : 0);
}

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => finish(new Error(`interrupted by ${signal}`)));
Promise.resolve()
  .then(ensureAnvil)
  .then(() => {
    setTimeout(() => finish(new Error(`timed out after ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS).unref();
    return run();
  })
  .then(() => finish(), finish);
