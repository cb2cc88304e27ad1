"""Transactions: a context manager that commits or rolls back, and manual control.

pyflymq buffers a transaction's records on the client and sends them at ``commit()``; a rollback
sends nothing (see docs/client.md for what FlyMQ's own transaction opcodes do and do not promise).
"""

from _support import example_server

from pyflymq import FlyMQClient

with example_server(__doc__) as bootstrap:
    client = FlyMQClient(bootstrap)

    # Using context manager (auto-commit/rollback)
    with client.transaction() as txn:
        txn.produce("topic1", b"Message 1")
        txn.produce("topic2", b"Message 2")
        # Automatically commits on success, rolls back on exception

    # Manual transaction control
    txn = client.begin_transaction()
    try:
        txn.produce("topic1", b"Message 1")
        txn.produce("topic2", b"Message 2")
        txn.commit()
    except Exception:
        txn.rollback()
        raise

    print(f"transaction state: {txn.state}")
    print(f"topic1 holds {len(client.fetch('topic1', 0, 0, 10))} records")
    client.close()
