"""A database URL's password is never repeated in what we print or raise."""

from __future__ import annotations

import pytest

from aiplane.core.errors import StoreError
from aiplane.store.sql.engine import make_engine, masked_url, url_password

PASSWORD = "s3cr-et"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://postgres:{PASSWORD}@db:5432/x",
            "postgresql+psycopg://postgres:***@db:5432/x",
        ),
        ("postgresql://postgres@db/x", "postgresql://postgres@db/x"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("not a url", "<unparsable database URL>"),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_url_password() -> None:
    assert url_password(f"postgresql://u:{PASSWORD}@h/d") == PASSWORD
    assert url_password("postgresql://u@h/d") is None
    assert url_password("sqlite:////tmp/a.db") is None
    assert url_password("::") is None


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}@host:badport/db",  # unparsable
        f"mysql://u:{PASSWORD}@h/d",  # unsupported
    ],
)
def test_store_errors_do_not_repeat_the_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        make_engine(url)
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value)
