"""Test-session settings: a private cache folder, so tests never touch the user's cache."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    old = os.environ.get("BAYESKD_CACHE")
    os.environ["BAYESKD_CACHE"] = str(tmp_path_factory.mktemp("bayeskd_cache"))
    yield
    if old is None:
        os.environ.pop("BAYESKD_CACHE", None)
    else:
        os.environ["BAYESKD_CACHE"] = old
