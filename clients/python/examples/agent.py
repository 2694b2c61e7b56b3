#!/usr/bin/env python3
"""An agent's payment, governed by Warden: ask before signing, wait for
approvers when Warden says so, then settle what was spent.

    WARDEN_SERVER=127.0.0.1:7400 WARDEN_TOKEN=$(cat .warden/tokens/agent_a) \\
      python3 clients/python/examples/agent.py --agent agent_a \\
        --wallet wallet_1 --asset USDC --amount 25000000 \\
        --to 0x00000000000000000000000000000000000000ff

(PYTHONPATH=clients/python, after clients/python/generate.sh.) Exits 0
when the spend was allowed and settled, 2 when Warden refused it, 1 when
the call failed.
"""

import argparse
import os
import sys

import warden


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent", required=True)
    p.add_argument("--wallet", required=True)
    p.add_argument("--asset", required=True)
    p.add_argument("--amount", required=True, help="base units, e.g. 25000000 for 25 USDC")
    p.add_argument("--to", required=True, help="destination address")
    p.add_argument("--wait", type=float, default=600, help="seconds to wait for approvers")
    args = p.parse_args()

    with warden.Client(os.environ.get("WARDEN_SERVER", "127.0.0.1:7400"),
                       token=os.environ.get("WARDEN_TOKEN")) as client:
        try:
            decision = client.authorize(args.agent, args.wallet, args.asset,
                                        args.amount, args.to, memo="example")
            print(f"{decision.decision} {decision.authorization_id} ${decision.amount_usd}")
            if decision.pending:
                print(f"waiting up to {args.wait:g} s for approvers...")
                decision = client.wait_for_decision(decision.authorization_id,
                                                    timeout=args.wait)
                print(f"{decision.decision} after approval")
            if not decision.allowed:
                for v in decision.violations:
                    print(f"  {v.code} {v.scope} {v.limit}: {v.message}")
                print(f"  {decision.reason}")
                return 2
            # Sign and send with the wallet here; then record what was spent.
            settled = client.settle(decision.authorization_id, args.amount,
                                    tx_hash="0x" + "00" * 32)
            print(f"{settled.status}")
            for limit in client.budget_status(f"agent/{args.agent}"):
                left = (f"${limit.remaining_usd}" if not limit.is_count
                        else f"{limit.remaining_count} spends")
                print(f"  {limit.name} ({limit.window}): {left} left")
            return 0
        except warden.WardenError as e:
            print(f"warden: {e}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
