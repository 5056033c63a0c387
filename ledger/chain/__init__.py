"""On-chain settlement adapter: compiled contract artifacts, a local anvil, deployment, and
typed transaction builders for the settlement jobs (SPEC.md section 8).

Infrastructure: domain-free, imports no ledger module but ``ledger.kit`` (import-linter).
The Solidity sources are in ``contracts/src``; ``node scripts/compile_contracts.js`` (``make
contracts``) writes ``artifacts/*.json``, which are committed and checked by a test.
"""
