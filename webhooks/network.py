"""Which addresses a webhook may be sent to (API.md section 17, private networks).

A URL whose host resolves to a loopback, private, link-local, multicast or reserved address is
refused at creation and again at delivery, on the address actually connected to: the delivery
connects to the address that was checked (DNS rebinding cannot swap it in between).
``MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`` turns the check off.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


class HostUnresolvable(Exception):
    """The URL's host does not resolve (now)."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def private_networks_allowed() -> bool:
    return bool(settings.MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS)


def host_resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostUnresolvable(f"{host} does not resolve: {exc}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


@dataclass(frozen=True)
class Target:
    """Where to connect for a URL: its host, port and the checked address (None: not pinned)."""

    scheme: str
    host: str
    port: int
    address: str | None


def url_target(url: str) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(scheme=parts.scheme, host=host, port=port, address=None)


def target_check(url: str) -> Target:
    """Resolve the URL's host and check every address; the target pins the first one.

    Raises ``AddressRefused`` or ``HostUnresolvable``. With private networks allowed the host is
    not resolved here and the connection resolves it as usual.
    """
    target = url_target(url)
    if private_networks_allowed():
        return target
    addresses = host_resolve(target.host, target.port)
    refused = [address for address in addresses if not address_is_public(address)]
    if refused:
        raise AddressRefused(
            f"{target.host} resolves to {refused[0]}, a loopback, private, link-local, "
            "multicast or reserved address."
        )
    return Target(scheme=target.scheme, host=target.host, port=target.port, address=addresses[0])


def url_check_at_creation(url: str) -> None:
    """Refuse a URL whose host is or resolves to a non-public address.

    A host that does not resolve now is accepted: DNS may not be set up yet, and every delivery
    checks the resolved address again.
    """
    try:
        target_check(url)
    except HostUnresolvable:
        return
