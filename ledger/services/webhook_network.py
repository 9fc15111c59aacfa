"""Calling a receiver's URL safely.

A notification URL is whatever an integration typed, so the server must not become a way in
to its own network: the host is resolved and every address checked against the refused
networks (WEBHOOK_REFUSED_NETWORKS, less WEBHOOK_ALLOWED_NETWORKS) BEFORE a connection is
opened, and the connection goes to the address that was checked (a second look-up could
answer differently). No cookies or credentials of ours are sent, redirects are not followed
(http.client never follows them) and at most WEBHOOK_RESPONSE_LIMIT bytes of the answer are
read, within WEBHOOK_TIMEOUT_SECONDS in all.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from ..exceptions import InvalidNotificationUrl, RefusedNotificationUrl

USER_AGENT = "loyalty-admin-webhooks/1"


@dataclass(frozen=True)
class Reply:
    """What a receiver answered: its status code, or why there was no answer."""

    status_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _networks(names: list[str]) -> tuple[list, set[str]]:
    networks, hosts = [], set()
    for name in names:
        try:
            networks.append(ipaddress.ip_network(name, strict=False))
        except ValueError:
            hosts.add(name.lower().rstrip("."))
    return networks, hosts


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    refused, _ = _networks(settings.WEBHOOK_REFUSED_NETWORKS)
    allowed, _ = _networks(settings.WEBHOOK_ALLOWED_NETWORKS)
    in_refused = any(ip.version == n.version and ip in n for n in refused)
    return in_refused and not any(ip.version == n.version and ip in n for n in allowed)


def _refused_host(host: str) -> bool:
    _, refused_hosts = _networks(settings.WEBHOOK_REFUSED_NETWORKS)
    _, allowed_hosts = _networks(settings.WEBHOOK_ALLOWED_NETWORKS)
    host = host.lower().rstrip(".")
    return host in refused_hosts and host not in allowed_hosts


def check_url(url: str) -> str:
    """The URL if it is http(s) with a host that is not refused by name or as a literal
    address; InvalidNotificationUrl or RefusedNotificationUrl otherwise. Names are resolved
    and checked again at each delivery (an address can change)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidNotificationUrl(f"“{url}” is not a URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidNotificationUrl()
    if parts.username or parts.password:
        raise InvalidNotificationUrl("The notification URL must not carry a user or password.")
    if port == 0:
        raise InvalidNotificationUrl("The notification URL's port must be 1 to 65535.")
    if _refused_host(parts.hostname):
        raise RefusedNotificationUrl()
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    if _refused(str(literal)):
        raise RefusedNotificationUrl()
    return url


def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]  # a literal address: no look-up at all
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, address: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, address: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> Reply:
    """POST `body` to `url`; a Reply in all cases (never raises for the receiver's faults)."""
    try:
        check_url(url)
    except InvalidNotificationUrl as exc:
        return Reply(None, exc.message)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    started = time.monotonic()
    try:
        addresses = _addresses(parts.hostname, port)
    except OSError as exc:
        return Reply(None, f"Cannot resolve {parts.hostname}: {exc}")
    if not addresses or any(_refused(a) for a in addresses):
        return Reply(None, RefusedNotificationUrl.default_message)
    if https:
        context = ssl.create_default_context()
        connection = _PinnedHTTPSConnection(
            addresses[0], parts.hostname, port, timeout=timeout, context=context
        )
    else:
        connection = _PinnedHTTPConnection(addresses[0], parts.hostname, port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        # Read the answer up to the limit and within the time left; the rest is not wanted.
        limit, read = settings.WEBHOOK_RESPONSE_LIMIT, 0
        while read < limit:
            if time.monotonic() - started > timeout:
                return Reply(None, f"No complete answer within {timeout} s.")
            chunk = response.read(min(4096, limit - read))
            if not chunk:
                break
            read += len(chunk)
        return Reply(response.status)
    except TimeoutError:
        return Reply(None, f"No answer within {timeout} s.")
    except (OSError, http.client.HTTPException) as exc:
        return Reply(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
