#!/usr/bin/env node
// Rebuilds the committed compiler outputs of the harness's contracts:
//   EIP3009Token.sol -> EIP3009Token.json  { abi, bytecode, ... }  (deployed by harness.mjs)
//   Multicall3.sol   -> Multicall3.json    { abi, deployedBytecode, ... }  (installed with anvil_setCode)
//
// Regenerate (from the repository root; needs only node/npm and the npm registry):
//   node tests/x402/contracts/compile.mjs
//
// solc is deliberately NOT a dependency of tests/x402/package.json: tests use
// the committed JSON. This script runs the pinned solc-js through a throwaway
// `npm exec --yes --package=solc@<version> -- solcjs --standard-json`.
// Each JSON records the sha256 of its source; selftest.mjs fails when a
// .sol file changed without regenerating.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SOLC_VERSION = "0.8.26";
const OPTIMIZER = { enabled: true, runs: 200 };
const EVM_VERSION = "cancun";

const here = dirname(fileURLToPath(import.meta.url));

/** The contracts to build: source file, contract name, and which bytecode to keep. */
const TARGETS = [
  { file: "EIP3009Token.sol", contract: "EIP3009Token", output: "bytecode" },
  { file: "Multicall3.sol", contract: "Multicall3", output: "deployedBytecode" },
];

const sources = Object.fromEntries(
  TARGETS.map(({ file }) => [file, { content: readFileSync(join(here, file), "utf8") }]),
);

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: OPTIMIZER,
    evmVersion: EVM_VERSION,
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

// Run from a scratch directory so npm does not treat tests/x402 as the project.
const solc = spawnSync(
  "npm",
  ["exec", "--yes", `--package=solc@${SOLC_VERSION}`, "--", "solcjs", "--standard-json"],
  { cwd: tmpdir(), input: JSON.stringify(input), encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 300_000 },
);
if (solc.error || solc.status !== 0) {
  console.error(solc.stderr);
  throw new Error(`solcjs failed: ${solc.error?.message ?? `exit status ${solc.status}`}`);
}

// solcjs prints notices (e.g. about SMT solvers) on stdout before the JSON.
const result = JSON.parse(solc.stdout.slice(solc.stdout.indexOf("{")));
const diagnostics = result.errors ?? [];
for (const { formattedMessage, message } of diagnostics) {
  console.error(formattedMessage ?? message);
}
if (diagnostics.some(({ severity }) => severity === "error")) {
  throw new Error("compilation failed");
}

for (const { file, contract, output } of TARGETS) {
  const compiled = result.contracts[file][contract];
  const artifact = {
    contract,
    source: file,
    sourceSha256: createHash("sha256").update(sources[file].content).digest("hex"),
    compiler: `solc ${SOLC_VERSION}`,
    optimizer: OPTIMIZER,
    evmVersion: EVM_VERSION,
    abi: compiled.abi,
    [output]: `0x${compiled.evm[output].object}`,
  };
  const target = join(here, `${contract}.json`);
  writeFileSync(target, `${JSON.stringify(artifact, null, 2)}\n`);
  console.log(`wrote ${target} (${(artifact[output].length - 2) / 2} bytes of ${output})`);
}
