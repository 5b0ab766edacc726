"""The public names of ``vidembed`` (as httpx's tests/test_exported_members.py pins its own): what
a user imports, and that each is what it says."""

from __future__ import annotations

import vidembed
from vidembed import errors


def test_the_public_names() -> None:
    assert sorted(vidembed.__all__) == [
        "ApiError",
        "AuthenticationError",
        "BadRequestError",
        "MediaError",
        "NotFoundError",
        "VidEmbed",
        "VidEmbedError",
    ]
    for name in vidembed.__all__:
        assert getattr(vidembed, name) is not None
    assert vidembed.__version__ == "0.1.0"


def test_a_401_is_an_authentication_error_of_the_api() -> None:
    error = errors.api_key_invalid(missing=True)
    assert isinstance(error, vidembed.AuthenticationError) and isinstance(error, vidembed.ApiError)
    assert error.status_code == 401 and error.code == "api_key_invalid"
