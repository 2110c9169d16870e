"""A request's user region: the region header, else the client's address in a known network."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from aiplane.core.errors import Problem, SpecError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Regions:
    def __init__(self, header: str, networks: Mapping[str, str]) -> None:
        self.header = header.lower()
        parsed: list[tuple[Network, str]] = []
        problems: list[Problem] = []
        for cidr, region in networks.items():
            try:
                parsed.append((ipaddress.ip_network(cidr, strict=False), region))
            except ValueError:
                problems.append(
                    Problem(
                        f"client_networks.{cidr}",
                        "is not a network",
                        cidr,
                        "a CIDR such as 10.0.0.0/8 or 2001:db8::/32",
                    )
                )
        if problems:
            raise SpecError("the gateway's client networks are invalid", problems)
        # The most specific network wins where two overlap.
        parsed.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self._networks = parsed

    def region(self, header_value: str | None, client_host: str | None) -> str | None:
        if header_value:
            return header_value.strip() or None
        if client_host is None or not self._networks:
            return None
        try:
            address = ipaddress.ip_address(client_host)
        except ValueError:
            return None
        for network, region in self._networks:
            if address.version == network.version and address in network:
                return region
        return None
