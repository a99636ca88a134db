"""The catalogue's access rules and path checks, without any service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apex_core.local.catalogue.auth import (
    CollectionAuth,
    Principal,
    TokenValidator,
    check_collection_write,
    check_new_auth,
    roles_from_claims,
)
from apex_core.local.catalogue.settings import DEFAULT_AUDIENCE, CatalogueSettings, safe_asset_path
from apex_core.local.errors import (
    LocalForbiddenError,
    LocalMetadataError,
    LocalServiceError,
    LocalUnauthorizedError,
)
from apex_core.local.process import free_port

ADMIN = "stac-admin-local"
admin = Principal("admin", frozenset({ADMIN}))
editor = Principal("editor", frozenset({"apex-editor"}))
nobody = Principal("nobody", frozenset())


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "x",
        {"read": ["a"]},
        {"write": ["a"]},
        {"read": "a", "write": ["a"]},
        {"read": ["a"], "write": [""]},
        {"read": ["a"], "write": [None]},
        {"read": ["a"], "write": ["a"], "extra": []},
        {"read": ["anonymous"], "write": ["anonymous"]},
    ],
)
def test_malformed_auth_is_a_metadata_error(value: Any) -> None:
    with pytest.raises(LocalMetadataError) as err:
        CollectionAuth.from_dict(value)
    assert (err.value.field or "").startswith("_auth")


def test_auth_round_trip_and_dedup() -> None:
    auth = CollectionAuth.from_dict({"read": ["anonymous", "anonymous"], "write": [" apex-editor "]})
    assert auth.to_dict() == {"read": ["anonymous"], "write": ["apex-editor"]}
    assert auth.public
    assert CollectionAuth.from_dict(auth.to_dict()) == auth


def test_only_admin_makes_public() -> None:
    public = CollectionAuth(read=("anonymous",), write=("apex-editor",))
    with pytest.raises(LocalForbiddenError):
        check_new_auth(public, editor, ADMIN)
    check_new_auth(public, admin, ADMIN)


def test_creator_must_keep_write_access() -> None:
    private = CollectionAuth(read=("apex-editor",), write=("apex-editor",))
    check_new_auth(private, editor, ADMIN)
    with pytest.raises(LocalForbiddenError):
        check_new_auth(private, nobody, ADMIN)


def test_collection_write() -> None:
    rules = CollectionAuth(read=("anonymous",), write=("team",))
    check_collection_write("c", rules, admin, ADMIN)
    check_collection_write("c", rules, Principal("t", frozenset({"team"})), ADMIN)
    with pytest.raises(LocalForbiddenError, match="team"):
        check_collection_write("c", rules, editor, ADMIN)
    # no rules: admin only
    check_collection_write("c", None, admin, ADMIN)
    with pytest.raises(LocalForbiddenError):
        check_collection_write("c", None, editor, ADMIN)


def test_read_rules() -> None:
    private = CollectionAuth(read=("readers",), write=("writers",))
    assert not private.can_read(None, ADMIN)
    assert private.can_read(Principal("r", frozenset({"readers"})), ADMIN)
    assert private.can_read(Principal("w", frozenset({"writers"})), ADMIN)
    assert private.can_read(admin, ADMIN)
    assert not private.can_read(editor, ADMIN)


def test_roles_from_keycloak_claims() -> None:
    assert roles_from_claims({"realm_access": {"roles": ["a", "b"]}}) == {"a", "b"}
    assert roles_from_claims({"realm_access": "x"}) == frozenset()
    assert roles_from_claims({}) == frozenset()
    principal = Principal.from_claims({"sub": "s", "azp": "c", "realm_access": {"roles": ["r"]}})
    assert principal.to_dict() == {"subject": "s", "roles": ["r"], "client_id": "c"}


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "..", "a/../b", "a/./b", "a//b", ".env", "a/.git/x", "a\\b", "a\x00b", "a b"]
)
def test_unsafe_asset_paths(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message checked by the service tests
        safe_asset_path(tmp_path, path)


def test_safe_asset_path(tmp_path: Path) -> None:
    assert (
        safe_asset_path(tmp_path, "col/item_2019-08-19Z.tif")
        == (tmp_path / "col" / "item_2019-08-19Z.tif").resolve()
    )


def test_settings_env_round_trip(tmp_path: Path) -> None:
    settings = CatalogueSettings(
        issuer_url="http://127.0.0.1:1",
        asset_dir=tmp_path,
        admin_role="boss",
        audience="aud",
        asset_roles=("a", "b"),
    )
    assert CatalogueSettings.from_env(settings.to_env()) == settings
    empty_roles = CatalogueSettings(issuer_url="http://x", asset_dir=tmp_path, asset_roles=())
    assert CatalogueSettings.from_env(empty_roles.to_env()).asset_roles == ()


def test_the_catalogue_always_has_an_audience(tmp_path: Path) -> None:
    """No configuration means the local issuer's audience, never "any audience"."""
    bare = {"APEX_CATALOGUE_ISSUER": "http://x", "APEX_CATALOGUE_ASSET_DIR": str(tmp_path)}
    assert CatalogueSettings.from_env(bare).audience == DEFAULT_AUDIENCE == "apex-catalogue-local"
    assert CatalogueSettings(issuer_url="http://x", asset_dir=tmp_path).audience == DEFAULT_AUDIENCE


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer  "])
def test_validator_needs_a_bearer_token(header: str | None) -> None:
    with pytest.raises(LocalUnauthorizedError) as err:
        TokenValidator("http://127.0.0.1:9").validate(header)
    assert err.value.status == 401


def test_validator_reports_an_unreachable_issuer() -> None:
    validator = TokenValidator(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(LocalServiceError, match="discovery"):
        validator.validate("Bearer a.b.c")
