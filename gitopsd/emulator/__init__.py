"""A stateful MongoDB Atlas Admin API v2 emulator, served over real HTTP on loopback.

Used by `gitopsd demo`, by the test suite and by users' CI. It is an independent model of
Atlas: it must never import gitopsd.core or gitopsd.adapters, so the daemon's client is tested
against something not derived from its own code. See docs/emulator.md.

    with Emulator(state) as atlas:
        httpx.get(atlas.url + "/api/atlas/v2/groups/byName/demo", auth=httpx.DigestAuth(...))
"""

from __future__ import annotations

from gitopsd.emulator.auth import Credentials
from gitopsd.emulator.server import Emulator

__all__ = ["Credentials", "Emulator"]
