// An agent's payment, governed by Warden: ask before signing, wait for
// approvers when Warden says so, then settle what was spent.
//
//   WARDEN_SERVER=127.0.0.1:7400 WARDEN_TOKEN=$(cat .warden/tokens/agent_a) \
//     node clients/typescript/dist/examples/agent.js agent_a wallet_1 USDC \
//       25000000 0x00000000000000000000000000000000000000ff
//
// Exits 0 when the spend was allowed and settled, 2 when Warden refused
// it, 1 when a call failed.
import {WardenClient, WardenError} from '../src/index';

async function main(): Promise<number> {
  const [agentId, walletId, asset, amount, destination] = process.argv.slice(2);
  if (!destination) {
    console.error('usage: agent.js AGENT WALLET ASSET AMOUNT DESTINATION');
    return 1;
  }
  const warden = new WardenClient(process.env.WARDEN_SERVER ?? '127.0.0.1:7400',
                                  {token: process.env.WARDEN_TOKEN});
  try {
    let d = await warden.authorize({agentId, walletId, asset, amount, destination, memo: 'example'});
    console.log(`${d.decision} ${d.authorizationId} $${d.amountUsd}`);
    if (d.pending) {
      console.log('waiting for approvers...');
      d = await warden.waitForDecision(d.authorizationId, 600_000);
      console.log(`${d.decision} after approval`);
    }
    if (!d.allowed) {
      for (const v of d.violations) console.log(`  ${v.code} ${v.scope} ${v.limit}: ${v.message}`);
      console.log(`  ${d.reason}`);
      return 2;
    }
    // Sign and send with the wallet here; then record what was spent.
    const settled = await warden.settle(d.authorizationId, amount, '0x' + '00'.repeat(32));
    console.log(settled.status);
    for (const l of await warden.budgetStatus(`agent/${agentId}`)) {
      console.log(`  ${l.name} (${l.window}): ${l.limitUsd ? `$${l.remainingUsd}` : `${l.remainingCount} spends`} left`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof WardenError)) throw e;
    console.error(`warden: ${e.message}`);
    return 1;
  } finally {
    warden.close();
  }
}

main().then((code) => process.exit(code));
