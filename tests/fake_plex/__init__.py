"""A fake Plex Media Server that the real plexapi client talks to over HTTP on 127.0.0.1.

It serves the small part of the Plex API that plexsync uses (server info, identity, sections of
every kind, paged listings, full items, edits, partial scans, activities) in the shapes a real
server sends (see `xml`), keeps the library in memory, records every request it answers
(without the token) and which replies are still on their way, and injects faults on demand:
outages, error statuses, slow or stalled responses, broken bodies, edits not kept. Standard
library only, besides attrs and the fields table of `shell.fields`.

The modules, each importing only those above it:

- `items`: the fields the fake knows (from `shell.fields.FIELDS`), `FakeItem`, and an edit;
- `library`: sections, items and scans, and what a request may change in them;
- `xml`: the XML documents (and the HTML error page) the fake sends;
- `server`: the listening socket, its threads, and the handler that sends a reply;
- `faults`: the faults that spoil replies;
- `records`: the requests received, and the replies in flight;
- `fake`: `FakePlex`, which puts them together and routes each request.
"""

from tests.fake_plex.fake import MUSIC_SECTION, TV_SECTION, FakePlex
from tests.fake_plex.items import FakeItem
from tests.fake_plex.records import TOKEN_PLACEHOLDER, Recorded
from tests.fake_plex.xml import VERSION

__all__ = [
    "MUSIC_SECTION",
    "TOKEN_PLACEHOLDER",
    "TV_SECTION",
    "VERSION",
    "FakeItem",
    "FakePlex",
    "Recorded",
]
