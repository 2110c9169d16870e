from __future__ import annotations

import pytest

from aiplane.core.errors import SpecError
from aiplane.gateway.region import Regions


def test_the_header_wins_then_the_most_specific_network():
    regions = Regions(
        "X-Aiplane-Region", {"10.0.0.0/8": "us", "10.1.0.0/16": "eu", "2001:db8::/32": "apac"}
    )
    assert regions.header == "x-aiplane-region"
    assert regions.region("eu-west", "10.0.0.1") == "eu-west"
    assert regions.region(None, "10.1.2.3") == "eu"
    assert regions.region(None, "10.2.2.3") == "us"
    assert regions.region(None, "2001:db8::1") == "apac"
    assert regions.region(None, "192.168.0.1") is None
    assert regions.region(None, "not-an-address") is None
    assert regions.region(None, None) is None
    assert regions.region("  ", "10.1.2.3") is None


def test_a_bad_network_is_named():
    with pytest.raises(SpecError) as raised:
        Regions("x-aiplane-region", {"10.0.0.0/8": "us", "ten/8": "eu"})
    (problem,) = raised.value.problems
    assert problem.location == "client_networks.ten/8"
    assert "CIDR" in (problem.allowed or "")
