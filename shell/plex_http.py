"""How plexsync speaks HTTP to Plex: the ``requests`` session plexapi is given.

It names this installation to Plex the same way on every start (so Plex sees one device, not a
new one each time), keeps the Retry-After of a 429 or 503 (plexapi's exceptions drop it), counts
the requests sent, releases the connection of an error answer, and refuses a web page where Plex
would answer XML (a login page in front of the URL, say).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

import requests

import core
from core import PlexSyncConfig
from shell.classify import NotPlexXml

if TYPE_CHECKING:
    from requests.sessions import _Settings


class PlexSession(requests.Session):
    """plexapi's HTTP session: our identity on every request, Retry-After kept, requests counted."""

    def __init__(self, identity: dict[str, str]) -> None:
        super().__init__()
        self.identity = identity
        self.sent = 0
        self._counting = threading.Lock()
        self._latest = threading.local()  # the worker calls Plex from several threads at once
        self.hooks["response"].extend(
            [self._read_error_bodies, self._keep_retry_after, self._refuse_web_pages]
        )

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """Merge headers as usual, then put our identity over plexapi's defaults."""
        prepared = super().prepare_request(request)
        prepared.headers.update(self.identity)
        return prepared

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Any,  # noqa: ANN401 - requests' own signature
        stream: bool | None,
        verify: bool | str | None,
        cert: Any,  # noqa: ANN401
    ) -> _Settings:
        """As requests does, except that an explicit choice of what to verify against (a CA
        bundle, or no verification) is kept over ``REQUESTS_CA_BUNDLE`` in the environment.
        """
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings

    @property
    def retry_after(self) -> str | None:
        """The Retry-After of the last 429 or 503 this thread received since its last request."""
        found: str | None = getattr(self._latest, "retry_after", None)
        return found

    @retry_after.setter
    def retry_after(self, value: str | None) -> None:
        self._latest.retry_after = value

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # noqa: ANN401
        """Count the request and forget the previous response's hint."""
        with self._counting:
            self.sent += 1
        self.retry_after = None
        return super().send(request, **kwargs)

    @staticmethod
    def _read_error_bodies(response: requests.Response, *args: object, **kwargs: object) -> None:
        # plexapi fails on some statuses (a proxy's 520) before reading the body, which would
        # leave the connection checked out of the pool; reading it here always releases it.
        del args, kwargs
        if response.status_code >= 400:
            _ = response.content

    @staticmethod
    def _refuse_web_pages(response: requests.Response, *args: object, **kwargs: object) -> None:
        # Only a page with something in it: Plex answers an edit or a scan request with an
        # empty 200 labelled HTML. Taking that for a web page would retry an edit that landed
        # (harmless, as edits are idempotent, but each retry costs an attempt, a health call
        # and another PUT, and a job always answered so would end in the DLQ).
        del args, kwargs
        labelled = "html" in response.headers.get("Content-Type", "")
        if response.status_code == 200 and labelled and response.content.strip():
            response.close()  # nobody else will: the exception replaces the response
            raise NotPlexXml(f"Plex answered {response.request.method} with a web page")

    def _keep_retry_after(
        self, response: requests.Response, *args: object, **kwargs: object
    ) -> None:
        del args, kwargs
        if response.status_code in {429, 503}:
            self.retry_after = response.headers.get("Retry-After")


def client_identity(config: PlexSyncConfig) -> dict[str, str]:
    """Headers naming this installation to Plex, the same on every start (a UUID derived from the
    host and the queue's path), so Plex sees one device rather than a new one each time.
    """
    host = socket.gethostname()
    seed = f"plexsync:{host}:{os.path.abspath(config.db_path)}"
    return {
        "X-Plex-Client-Identifier": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)),
        "X-Plex-Product": "plexsync",
        "X-Plex-Version": core.__version__,
        "X-Plex-Device": "plexsync",
        "X-Plex-Device-Name": f"plexsync on {host}",
    }
