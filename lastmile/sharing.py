"""What partners agreed to share with each other in their inboxes (docs/security.md), kept in
``LASTMILE_HOME/sharing.json`` and set with ``lastmile partners share P``:

- ``named``: a partner in it is named to the partners it matches that are in it too (the
  ``counterpart_partner_id`` of their ``InboxMatch``); to the others it stays an opaque token;
- ``same_recipient``: likewise for whether two matched deliveries go to the same recipient.

Both are opt-in: nobody is in either until they agree. ``LASTMILE_INBOX_NAMED_PARTNERS`` and
``LASTMILE_INBOX_SAME_RECIPIENT_PARTNERS`` (comma-separated partner ids) add to the file, for a
cluster deployment. The job reads them when it starts: a change applies from its next start.
"""
from __future__ import annotations

import json
import pathlib

from udfs.contracts.topics import check_partner_id
from udfs.outputs import Sharing

FIELDS = ("named", "same_recipient")


def path(home: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(home) / "sharing.json"


def read(home: pathlib.Path, named: str = "", same_recipient: str = "") -> Sharing:
    """The agreements kept under ``home``, plus the comma-separated ids given (the environment's)."""
    try:
        kept = json.loads(path(home).read_text())
    except FileNotFoundError:
        kept = {}
    given = {"named": named, "same_recipient": same_recipient}
    return Sharing(**{field: frozenset(kept.get(field, [])) | ids(given[field]) for field in FIELDS})


def ids(text: str) -> frozenset[str]:
    """Partner ids of a comma-separated list; a ValueError for a bad one."""
    return frozenset(check_partner_id(p.strip()) for p in text.split(",") if p.strip())


def agree(home: pathlib.Path, partner_id: str, **choices: bool | None) -> Sharing:
    """Record partner ``partner_id``'s choices (``named=True``: it agrees to be named, ``False``:
    it withdraws; ``None``: unchanged) and return what is now kept."""
    check_partner_id(partner_id)
    current = read(home)
    kept = {}
    for field in FIELDS:
        members = set(getattr(current, field))
        choice = choices.get(field)
        if choice is True:
            members.add(partner_id)
        elif choice is False:
            members.discard(partner_id)
        kept[field] = sorted(members)
    path(home).parent.mkdir(parents=True, exist_ok=True)
    path(home).write_text(json.dumps(kept, indent=2) + "\n")
    return Sharing(**{field: frozenset(kept[field]) for field in FIELDS})
