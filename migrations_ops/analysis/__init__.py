"""What a release does to the database: the risk and access results, read back.

The ``risk`` and ``access`` jobs (``migrations_ops.runners``) store their results on the
job; this feature reads the newest ones for the release's current content and shows them
(the release page's lazy card, the report, the evidence pack, the API), joins each data
loss with the release's verified backup and rollback plan (``recovery``), and gives the
gate its one rule (``gate_rule``).
"""
