"""The operator's commands: ``reelgate accounts``, ``keys``, ``usage`` and ``ledger``.

They are thin clients of the admin API (/admin/v1) over HTTP, so they work against any
gateway an operator can reach, local or remote, and never touch the store directly: the
server stays the one place where money moves.

Exit codes: 0 done, 1 the gateway refused (its HTTP status and message are printed),
2 bad arguments or no admin token, 3 the gateway could not be reached.

client.py     the admin API over HTTP; a failure's message and exit code
options.py    the options every command takes; instants and limits as typed
display.py    money, times and the tables (stdout), notes (stderr)
accounts.py   reelgate accounts ...
keys.py       reelgate keys ...
reports.py    reelgate usage, reelgate ledger
"""

from reelgate.admin_cli.accounts import accounts_app
from reelgate.admin_cli.keys import keys_app
from reelgate.admin_cli.reports import ledger, usage

__all__ = ["accounts_app", "keys_app", "ledger", "usage"]
