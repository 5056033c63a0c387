"""Settlement on chain: the outbox's roots and slashes sent, tracked to finality, reconciled."""
