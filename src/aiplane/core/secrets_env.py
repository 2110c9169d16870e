"""What of the control plane's environment a workload may inherit: everything but its secrets.

Pure: the composition root reads the environment and the database URL once and asks here what
to keep; the launcher asks again with the names the fleet in force gives its webhook secrets
(they are read at delivery time, so a fleet applied later may name new ones). A workload that
needs one of these values declares it in its own spec ``env``, which is applied after this.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

# Parts of a variable's name that mark it secret, whatever the case and wherever they stand.
SECRET_WORDS: tuple[str, ...] = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "API_KEY",
    "ACCESS_KEY",
    "DATABASE_URL",
)
# The control plane's own settings: the launcher sets the ones a workload gets.
OWN_PREFIX = "AIPLANE_"
# libpq's PGPASSWORD and PGPASSFILE, and the like.
_PG_PASS = re.compile(r"^PG.*PASS", re.IGNORECASE)


def secret_reason(name: str, secret_names: Iterable[str] = ()) -> str | None:
    """Why the variable ``name`` is kept from workloads (by its name alone); None to keep it."""
    upper = name.upper()
    if upper.startswith(OWN_PREFIX):
        return "a control plane setting"
    if name in set(secret_names):
        return "a webhook secret of the fleet"
    for word in SECRET_WORDS:
        if word in upper:
            return f"its name contains {word}"
    if _PG_PASS.match(name):
        return "a PostgreSQL password variable"
    return None


def value_forms(secret: str) -> frozenset[str]:
    """``secret`` as it may appear inside another value: as is and URL-encoded."""
    return frozenset({secret, quote(secret, safe=""), quote_plus(secret)})


def workload_environment(
    environ: Mapping[str, str],
    *,
    secret_names: Iterable[str] = (),
    secret_values: Iterable[str] = (),
) -> dict[str, str]:
    """``environ`` less every variable a workload must not see: those named as secrets (see
    ``secret_reason``), those in ``secret_names``, and those whose value contains one of
    ``secret_values`` (the database password, say, copied into some other variable)."""
    names = frozenset(secret_names)
    forms = frozenset(form for value in secret_values if value for form in value_forms(value))
    return {
        name: value
        for name, value in environ.items()
        if secret_reason(name, names) is None and not any(f in value for f in forms)
    }
