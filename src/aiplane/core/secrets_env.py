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

# Words of a variable's name that mark it secret, whatever the case: a word of the name that is
# one of these or ends with it (``HF_TOKEN``, ``AUTHTOKEN``, ``DB_PRIVATE_KEY``), but not a word
# that merely begins with it (``TOKENIZERS_PARALLELISM`` is a setting, not a secret).
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
# Names that carry no secret word but hand over a credential all the same: the SSH agent's socket
# (any process that reaches it signs as us) and Kerberos' ticket cache and keytab.
SECRET_NAMES: frozenset[str] = frozenset({"SSH_AUTH_SOCK", "KRB5CCNAME", "KRB5_KTNAME"})
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
    if upper in SECRET_NAMES:
        return "a credential of this user (an agent socket or a Kerberos ticket)"
    words = [w for w in re.split(r"[^A-Z0-9]+", upper) if w]
    for secret in SECRET_WORDS:
        if _has_words(words, secret.split("_")):
            return f"its name contains {secret}"
    if _PG_PASS.match(name):
        return "a PostgreSQL password variable"
    return None


def _has_words(words: list[str], wanted: list[str]) -> bool:
    """Whether ``wanted`` occurs in ``words`` as consecutive words, the first of them allowed a
    prefix (``MYAPI_KEY`` has ``API_KEY``) and the last a plural (``..._CREDENTIALS``)."""
    n = len(wanted)
    for i in range(len(words) - n + 1):
        got = words[i : i + n]
        got[-1] = got[-1].removesuffix("S") if got[-1] != wanted[-1] else got[-1]
        if got[0].endswith(wanted[0]) and got[1:] == wanted[1:]:
            return True
    return False


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
    ``secret_reason``), those in ``secret_names``, and those whose value holds one of
    ``secret_values`` as a value of its own: the whole value, a URL's password
    (``scheme://user:<it>@host``) or a ``key=<it>`` setting (``password=<it> host=db``), as
    when the database URL or its password is copied into some other variable. A mere
    substring does not count: a password such as ``postgres`` would otherwise take
    ``PATH=/usr/lib/postgresql/bin`` with it."""
    names = frozenset(secret_names)
    forms = sorted({f for value in secret_values if value for f in value_forms(value)})
    held = (
        re.compile("|".join(rf"(?:^|[:=]){re.escape(f)}(?:$|[@\s;&,])" for f in forms))
        if forms
        else None
    )
    return {
        name: value
        for name, value in environ.items()
        if secret_reason(name, names) is None and (held is None or not held.search(value))
    }
