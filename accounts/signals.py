"""What the customer side tells the layers above it (which it may not import).

`program_updated` is sent inside `update_program`'s transaction; the ledger answers it by
writing the webhook notifications of the change in that same transaction.
"""

from django.dispatch import Signal

program_updated = Signal()  # program=
