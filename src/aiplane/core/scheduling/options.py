"""The engine's bounds and switches (``EngineOptions``), apart from the cycle that reads them."""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.core.scheduling.explain import MAX_REJECTIONS_SHOWN


@dataclass(frozen=True)
class EngineOptions:
    max_preemptors_per_cycle: int = 16
    # Searching for victims scans a pool's running work; bound the searches per cycle so a
    # long blocked queue cannot make one cycle slow. Runs not tried wait for the next cycle.
    max_preemption_searches_per_cycle: int = 64
    # Detailed explanations (the rejected offers) for at most this many waiting runs per
    # cycle; the rest carry their reason only. A queue of 100,000 should not cost 600,000
    # dictionaries every cycle.
    max_explained_waits: int = 2_000
    # Rejected offers an explanation lists (the most telling first; ``rejected_total`` counts
    # them all). A placement preview asks for more than a stored decision keeps.
    rejections_shown: int = MAX_REJECTIONS_SHOWN
    # Let a run that no usable pool can take by quota or room alone (nothing there to
    # preempt) wait without pricing its offers (what keeps a long queue cheap), its
    # explanation then without rejections. A preview turns it off so that every offer is
    # priced and each rejection given.
    skip_hopeless: bool = True
