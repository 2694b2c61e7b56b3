#!/usr/bin/env node
// x402 test harness: the chain side and the server side of a real x402 v2
// payment, on a local anvil node, for Warden's end-to-end tests.
//
//   node tests/x402/harness.mjs --rpc http://127.0.0.1:PORT --pay-to 0xADDR --price 10000 \
//        [--mint-to 0xADDR ... --mint 1000000000]
//
// On start it
//   1. deploys EIP3009Token ("Warden Test USD", version "2", 6 decimals) from
//      the committed bytecode with anvil's dev account 0, mints --mint base
//      units to every --mint-to, and installs Multicall3 if the chain has none;
//   2. serves an x402 facilitator (@x402/core x402Facilitator + @x402/evm exact
//      EVM scheme, settling from dev account 0) on 127.0.0.1:<ephemeral>
//      with the endpoints HTTPFacilitatorClient calls: GET /supported,
//      POST /verify, POST /settle;
//   3. serves a resource server (@x402/express payment middleware using an
//      HTTPFacilitatorClient on that facilitator) on 127.0.0.1:<ephemeral>:
//        GET /paid   costs --price base units of the token (scheme "exact");
//                    answers {"ok":true,"paid":n}
//        GET /free   no payment; answers {"ok":true}
//        GET /stats  {"paid","settledTransactions","lastVerifyError","lastSettleError"}
//   4. prints ONE line of JSON on stdout, {"token","chainId","network",
//      "resourceUrl","freeUrl","statsUrl","facilitatorUrl","payTo"}, and runs
//      until it gets SIGTERM/SIGINT or its parent process goes away (a test
//      that crashed), then exits 0.
// Logs go to stderr. A startup failure, or no readiness within 30 s, exits 1.

import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

import { x402Facilitator } from "@x402/core/facilitator";
import { HTTPFacilitatorClient, x402HTTPResourceServer, x402ResourceServer } from "@x402/core/server";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactEvmScheme as ExactEvmFacilitatorScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmScheme as ExactEvmServerScheme } from "@x402/evm/exact/server";
import { paymentMiddlewareFromHTTPServer } from "@x402/express";
import express from "express";
import { createPublicClient, createWalletClient, defineChain, getAddress, http, isAddress, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";

/** EIP-712 domain of the test token; payers sign against these. */
const TOKEN_NAME = "Warden Test USD";
const TOKEN_SYMBOL = "WTUSD";
const TOKEN_VERSION = "2";

/** anvil's dev account 0: funded on every fresh anvil; deployer and facilitator. */
const DEV_ACCOUNT_0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/** Where the exact EVM facilitator expects Multicall3 (its diagnostic reads). */
const MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11";

const STARTUP_TIMEOUT_MS = 30_000;
const RPC_POLL_INTERVAL_MS = 250;
const RPC_REQUEST_TIMEOUT_MS = 10_000;
const RECEIPT_TIMEOUT_MS = 20_000;
const FACILITATOR_CLIENT_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_SECONDS = 60;
const SHUTDOWN_GRACE_MS = 2_000;

const log = (...args) => console.error("[x402-harness]", ...args);

// stdout carries exactly one line (the ready line). Libraries that log with
// console.log/info/debug are sent to stderr with everything else.
console.log = console.info = console.debug = console.error;

const readArtifact = (name) => JSON.parse(readFileSync(new URL(`./contracts/${name}.json`, import.meta.url), "utf8"));

/** The message of an Error (viem's short form when it has one) or of anything thrown. */
const errorMessage = (error) => (error instanceof Error ? (error.shortMessage ?? error.message) : String(error));

/** Parses and checks the command line; throws with a usage hint on any problem. */
function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rpc: { type: "string" },
      "pay-to": { type: "string" },
      price: { type: "string" },
      "mint-to": { type: "string", multiple: true, default: [] },
      mint: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const usage =
    "usage: harness.mjs --rpc URL --pay-to ADDRESS --price BASE_UNITS [--mint-to ADDRESS ... --mint BASE_UNITS]";
  const address = (flag, value) => {
    if (!isAddress(value ?? "", { strict: false })) throw new Error(`--${flag}: not an address: ${value}\n${usage}`);
    return getAddress(value);
  };
  const baseUnits = (flag, value) => {
    if (!/^[0-9]+$/.test(value ?? "") || BigInt(value) === 0n) {
      throw new Error(`--${flag}: expected a positive integer number of base units, got ${value}\n${usage}`);
    }
    return BigInt(value);
  };
  if (!values.rpc) throw new Error(`--rpc is required\n${usage}`);
  const mintTo = values["mint-to"].map((value) => address("mint-to", value));
  if ((mintTo.length > 0) !== (values.mint !== undefined)) {
    throw new Error(`--mint-to and --mint go together\n${usage}`);
  }
  return {
    rpc: values.rpc,
    payTo: address("pay-to", values["pay-to"]),
    price: baseUnits("price", values.price),
    mintTo,
    mint: mintTo.length > 0 ? baseUnits("mint", values.mint) : 0n,
  };
}

/** Asks the node for its chain id until it answers or the deadline passes. */
async function waitForChainId(rpc, deadline) {
  const probe = createPublicClient({ transport: http(rpc, { retryCount: 0, timeout: RPC_POLL_INTERVAL_MS * 4 }) });
  for (;;) {
    try {
      return await probe.getChainId();
    } catch (error) {
      if (Date.now() + RPC_POLL_INTERVAL_MS >= deadline) {
        throw new Error(`no answer from the node at ${rpc}: ${errorMessage(error)}`);
      }
      await sleep(RPC_POLL_INTERVAL_MS);
    }
  }
}

/**
 * Wraps an async function so that calls run one at a time, in call order.
 * Transactions from the facilitator account go through it: each send reads
 * the account's pending nonce, so concurrent settlements would collide.
 */
function oneAtATime(fn) {
  let tail = Promise.resolve();
  return (...args) => {
    const run = tail.then(() => fn(...args));
    tail = run.catch(() => undefined); // a failed send must not block the next one
    return run;
  };
}

/** Sends a transaction via `send` and waits for a successful receipt. */
async function transact(client, what, send) {
  const hash = await send();
  const receipt = await client.waitForTransactionReceipt({ hash, timeout: RECEIPT_TIMEOUT_MS });
  if (receipt.status !== "success") throw new Error(`${what}: transaction ${hash} reverted`);
  return receipt;
}

/** Deploys the token, mints, and makes sure Multicall3 exists; returns the token address. */
async function prepareChain(client, { mintTo, mint }) {
  const token = readArtifact("EIP3009Token");
  const deployed = await transact(client, "deploy EIP3009Token", () =>
    client.deployContract({ abi: token.abi, bytecode: token.bytecode, args: [TOKEN_NAME, TOKEN_SYMBOL, TOKEN_VERSION] }),
  );
  const address = getAddress(deployed.contractAddress);
  log(`EIP3009Token "${TOKEN_NAME}" v${TOKEN_VERSION} deployed at ${address}`);

  for (const to of mintTo) {
    await transact(client, `mint to ${to}`, () =>
      client.writeContract({ address, abi: token.abi, functionName: "mint", args: [to, mint] }),
    );
    log(`minted ${mint} base units to ${to}`);
  }

  if ((await client.getCode({ address: MULTICALL3_ADDRESS })) === undefined) {
    const multicall = readArtifact("Multicall3");
    await client.request({ method: "anvil_setCode", params: [MULTICALL3_ADDRESS, multicall.deployedBytecode] });
    log(`installed Multicall3 (tryAggregate) at ${MULTICALL3_ADDRESS}`);
  }
  return address;
}

/** The facilitator: x402Facilitator with the exact EVM scheme, settling from `client`'s account. */
function createFacilitator(client, network) {
  const send = oneAtATime((method, args) => client[method](args));
  const signer = toFacilitatorEvmSigner(
    {
      address: client.account.address,
      getCode: (args) => client.getCode(args),
      readContract: (args) => client.readContract(args),
      verifyTypedData: (args) => client.verifyTypedData(args),
      writeContract: (args) => send("writeContract", args),
      sendTransaction: (args) => send("sendTransaction", args),
      waitForTransactionReceipt: (args) => client.waitForTransactionReceipt(args),
    },
    { confirmationTimeoutMs: RECEIPT_TIMEOUT_MS },
  );
  return new x402Facilitator().register(network, new ExactEvmFacilitatorScheme(signer));
}

/** HTTP front of the facilitator, in the shape HTTPFacilitatorClient expects. */
function facilitatorApp(facilitator) {
  const operation = (name) => async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {};
    if (!paymentPayload || !paymentRequirements) {
      res.status(400).json({ error: "body must carry paymentPayload and paymentRequirements" });
      return;
    }
    try {
      res.json(await facilitator[name](paymentPayload, paymentRequirements));
    } catch (error) {
      log(`facilitator ${name} failed: ${errorMessage(error)}`);
      res.status(500).json({ error: errorMessage(error) });
    }
  };
  const app = express();
  app.use(express.json({ limit: "1mb" }));
  app.get("/supported", (_req, res) => res.json(facilitator.getSupported()));
  app.post("/verify", operation("verify"));
  app.post("/settle", operation("settle"));
  return app;
}

/** The paid resource server plus its /stats record. */
async function resourceApp({ facilitatorUrl, network, token, payTo, price }) {
  const stats = { paid: 0, settledTransactions: [], lastVerifyError: null, lastSettleError: null };

  const resourceServer = new x402ResourceServer(
    new HTTPFacilitatorClient({ url: facilitatorUrl, timeoutMs: FACILITATOR_CLIENT_TIMEOUT_MS }),
  )
    .register(network, new ExactEvmServerScheme())
    .onAfterVerify(({ result }) => {
      if (!result.isValid) {
        stats.lastVerifyError = [result.invalidReason, result.invalidMessage].filter(Boolean).join(": ");
      }
    })
    .onVerifyFailure(({ error }) => {
      stats.lastVerifyError = errorMessage(error);
    })
    .onAfterSettle(({ result }) => {
      stats.paid += 1;
      stats.settledTransactions.push(result.transaction);
    })
    .onSettleFailure(({ error }) => {
      stats.lastSettleError = errorMessage(error);
    });

  const routes = {
    "GET /paid": {
      accepts: {
        scheme: "exact",
        network,
        payTo,
        // An explicit AssetAmount: no default-asset lookup for this network.
        price: { amount: price.toString(), asset: token, extra: { name: TOKEN_NAME, version: TOKEN_VERSION } },
        maxTimeoutSeconds: MAX_TIMEOUT_SECONDS,
      },
      description: "Warden x402 test resource",
      mimeType: "application/json",
    },
  };
  const httpServer = new x402HTTPResourceServer(resourceServer, routes);
  // Fetch the facilitator's /supported and check the routes now, so that a
  // misconfiguration fails startup instead of the first paid request.
  await httpServer.initialize();

  const app = express();
  app.get("/free", (_req, res) => res.json({ ok: true }));
  app.get("/stats", (_req, res) => res.json(stats));
  // No paywall config or provider (no browser paywall); `false`: already initialized above.
  app.use(paymentMiddlewareFromHTTPServer(httpServer, undefined, undefined, false));
  // Runs after verification; the middleware settles afterwards and releases
  // this body only if settlement succeeds, so the request is payment number
  // paid + 1 (exact for sequential payments; /stats is authoritative).
  app.get("/paid", (_req, res) => res.json({ ok: true, paid: stats.paid + 1 }));
  return app;
}

/** Starts `app` on an ephemeral loopback port; resolves to [server, base URL]. */
async function listen(app) {
  const server = createServer(app);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return [server, `http://127.0.0.1:${server.address().port}`];
}

const servers = [];
let stopping = false;

/** Closes the servers (bounded) and exits with `code`. */
function shutdown(reason, code = 0) {
  if (stopping) return;
  stopping = true;
  log(`${reason}; shutting down`);
  setTimeout(() => process.exit(code), SHUTDOWN_GRACE_MS).unref();
  Promise.all(
    servers.map((server) => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      return closed;
    }),
  ).then(() => process.exit(code));
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;

  const chainId = await waitForChainId(options.rpc, deadline);
  const network = `eip155:${chainId}`;
  const chain = defineChain({
    id: chainId,
    name: `anvil ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpc] } },
  });
  const client = createWalletClient({
    account: privateKeyToAccount(DEV_ACCOUNT_0_KEY),
    chain,
    transport: http(options.rpc, { timeout: RPC_REQUEST_TIMEOUT_MS }),
    pollingInterval: 100,
  }).extend(publicActions);

  const token = await prepareChain(client, options);

  const [facilitatorServer, facilitatorUrl] = await listen(facilitatorApp(createFacilitator(client, network)));
  servers.push(facilitatorServer);
  log(`facilitator on ${facilitatorUrl} for ${network}, settling from ${client.account.address}`);

  const [resourceServer, resourceBase] = await listen(
    await resourceApp({ facilitatorUrl, network, token, payTo: options.payTo, price: options.price }),
  );
  servers.push(resourceServer);
  log(`resource server on ${resourceBase}: GET /paid costs ${options.price} base units, paid to ${options.payTo}`);

  return {
    token,
    chainId,
    network,
    resourceUrl: `${resourceBase}/paid`,
    freeUrl: `${resourceBase}/free`,
    statsUrl: `${resourceBase}/stats`,
    facilitatorUrl,
    payTo: options.payTo,
  };
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// A parent that died without stopping us leaves us re-parented: stop too.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown("parent exited");
}, 1000).unref();

const startupTimer = setTimeout(() => {
  log(`startup did not finish within ${STARTUP_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, STARTUP_TIMEOUT_MS);

main().then(
  (ready) => {
    clearTimeout(startupTimer);
    if (!stopping) process.stdout.write(`${JSON.stringify(ready)}\n`);
  },
  (error) => {
    log(`startup failed: ${errorMessage(error)}`);
    process.exit(1);
  },
);
