"""Where re-hosted assets are stored: the embedded catalogue's asset store, or an S3-compatible bucket.

Both implement :class:`AssetStore`: ``base_url`` (hrefs under it are already hosted) and
``put(path, data, media_type, log) -> href``. :class:`CatalogueAssetStore` PUTs with the catalogue's
bearer token (:meth:`~apex_core.catalogue.CatalogueClient.put_asset`); :class:`S3AssetStore` writes with
boto3 to ``s3://{bucket}/{prefix}/{path}`` and returns a plain, non-expiring URL: ``s3_public_url`` +
key when set (a CDN or website endpoint), else the path-style object URL on the endpoint. That URL is
only downloadable when the bucket lets anyone read its objects (a bucket policy, or a public URL in
front of it): the store does not change access rules.

Credentials come from the settings (``APEX_S3_ACCESS_KEY_ID`` / ``APEX_S3_SECRET_ACCESS_KEY``), else
boto3's usual chain (``AWS_*`` variables, ``~/.aws``, instance roles). They are never logged: botocore's
own debug logging (which prints signed request headers) is capped at WARNING here. Failures become an
:class:`~apex_core.errors.AssetError` that says which setting to check (credentials refused, bucket
missing, endpoint unreachable).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from apex_core.catalogue import CatalogueClient, RequestLogEntry
from apex_core.config import Settings
from apex_core.errors import AssetError

__all__ = [
    "AssetStore",
    "CatalogueAssetStore",
    "S3AssetStore",
    "S3Location",
    "asset_store",
    "s3_error",
]

logger = logging.getLogger(__name__)

for _name in ("botocore", "boto3", "s3transfer", "urllib3.connectionpool"):
    if logging.getLogger(_name).level in (logging.NOTSET, logging.DEBUG):
        logging.getLogger(_name).setLevel(logging.WARNING)  # signed headers must never reach a log

_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)


class AssetStore(Protocol):
    """Persistent storage for re-hosted assets."""

    @property
    def base_url(self) -> str: ...

    @property
    def label(self) -> str: ...

    def put(self, path: str, data: bytes, media_type: str, log: list[RequestLogEntry]) -> str: ...


@dataclass(frozen=True)
class CatalogueAssetStore:
    """The embedded catalogue's asset store: ``PUT {assets_url}/{path}`` with the bearer token."""

    client: CatalogueClient
    assets_url: str

    @property
    def base_url(self) -> str:
        return self.assets_url.rstrip("/")

    @property
    def label(self) -> str:
        return "the catalogue's asset store"

    def put(self, path: str, data: bytes, media_type: str, log: list[RequestLogEntry]) -> str:
        return self.client.put_asset(self.base_url, path, data, media_type)  # the client logs it


@dataclass(frozen=True)
class S3Location:
    """A bucket, a key prefix, and how its objects are reached (no credentials here). ``public_url``
    is the base URL of the bucket's root as seen by readers (a CDN or website endpoint)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    public_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Location | None:
        if not settings.s3_bucket:
            return None
        return cls(
            bucket=settings.s3_bucket,
            prefix=(settings.s3_prefix or "").strip("/"),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            public_url=settings.s3_public_url,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3Location:
        return cls(
            bucket=str(data["bucket"]),
            prefix=str(data.get("prefix") or "").strip("/"),
            endpoint_url=str(data["endpoint_url"]) if data.get("endpoint_url") else None,
            region=str(data["region"]) if data.get("region") else None,
            public_url=str(data["public_url"]) if data.get("public_url") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "public_url": self.public_url,
        }

    def key(self, path: str) -> str:
        return "/".join(p for p in (self.prefix, path.strip("/")) if p)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def href(self, key: str) -> str:
        """The plain (unsigned) URL of ``key``."""
        quoted = quote(key, safe="/")
        if self.public_url:  # a CDN or website endpoint in front of the bucket's root
            return f"{self.public_url.rstrip('/')}/{quoted}"
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{quoted}"
        region = self.region or "us-east-1"
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/{quoted}"


def s3_error(exc: Exception, location: S3Location, what: str) -> AssetError:
    """A clear :class:`AssetError` for a boto3/botocore failure (never quoting credentials)."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = f"bucket {location.bucket}" + (f" at {location.endpoint_url}" if location.endpoint_url else "")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AssetError(
            f"Could not {what}: no S3 credentials; set APEX_S3_ACCESS_KEY_ID and APEX_S3_SECRET_ACCESS_KEY.",
            field="s3_access_key_id",
        )
    if isinstance(exc, EndpointConnectionError):
        return AssetError(
            f"Could not {what}: the S3 endpoint did not answer ({where}); check APEX_S3_ENDPOINT_URL.",
            field="s3_endpoint_url",
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "")
        status = meta.get("HTTPStatusCode")
        rid = meta.get("RequestId") or None
        kw: dict[str, Any] = {"code": code or None, "status": status, "request_id": rid}
        if code in _CREDENTIAL_CODES:
            return AssetError(
                f"Could not {what}: the S3 service refused the credentials ({code}); check "
                "APEX_S3_ACCESS_KEY_ID and APEX_S3_SECRET_ACCESS_KEY.",
                field="s3_access_key_id",
                **kw,
            )
        if code in ("NoSuchBucket", "404", "NotFound"):
            return AssetError(
                f"Could not {what}: the S3 bucket {location.bucket!r} does not exist; create it or fix "
                "APEX_S3_BUCKET.",
                field="s3_bucket",
                **kw,
            )
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
            return AssetError(
                f"Could not {what}: access to {where} was denied; the credentials lack write permission "
                "on it.",
                field="s3_access_key_id",
                **kw,
            )
        return AssetError(f"Could not {what}: the S3 service said {code or 'an error'} ({where}).", **kw)
    return AssetError(f"Could not {what}: {type(exc).__name__} ({where}).")


@dataclass(frozen=True)
class S3AssetStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph, OVH, CloudFerro...) written with boto3."""

    location: S3Location
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> S3AssetStore | None:
        location = S3Location.from_settings(settings)
        if location is None:
            return None
        return cls(
            location,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
            timeout=settings.http_timeout,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.location.to_dict(), "credentials": "settings" if self.access_key_id else "default"}

    @property
    def base_url(self) -> str:
        return self.location.href(self.location.key("")).rstrip("/")

    @property
    def label(self) -> str:
        return f"the S3 bucket {self.location.uri}"

    def client(self) -> Any:
        """A boto3 S3 client (credentials from the settings, else boto3's default chain)."""
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if self.location.endpoint_url else "auto"},
        )
        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.location.region or "us-east-1",
        )
        return session.client("s3", endpoint_url=self.location.endpoint_url, config=config)

    def check(self, log: list[RequestLogEntry] | None = None) -> None:
        """``HEAD`` the bucket: a clear :class:`AssetError` when it is missing or the credentials fail."""
        bucket = self.location.bucket
        self._call("HEAD", "", "reach the S3 bucket", log, lambda c: c.head_bucket(Bucket=bucket))

    def put(self, path: str, data: bytes, media_type: str, log: list[RequestLogEntry]) -> str:
        key = self.location.key(path)
        self._call(
            "PUT",
            key,
            f"store asset {path} in S3",
            log,
            lambda c: c.put_object(Bucket=self.location.bucket, Key=key, Body=data, ContentType=media_type),
        )
        return self.location.href(key)

    def _call(self, method: str, key: str, what: str, log: list[RequestLogEntry] | None, call: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        started = time.monotonic()
        url = f"s3://{self.location.bucket}/{key}".rstrip("/")
        try:
            answer = call(self.client())
        except (BotoCoreError, ClientError) as exc:
            error = s3_error(exc, self.location, what)
            if log is not None:
                ms = int((time.monotonic() - started) * 1000)
                log.append(RequestLogEntry(at, method, url, error.status, ms, error.message))
            logger.info("S3 %s %s failed: %s", method, url, error.code or type(exc).__name__)
            raise error from exc
        if log is not None:
            status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
            log.append(
                RequestLogEntry(at, method, url, int(status), int((time.monotonic() - started) * 1000), what)
            )
        return answer


def asset_store(settings: Settings, client: CatalogueClient, assets_url: str | None) -> AssetStore | None:
    """Where to re-host: the S3 bucket when the settings name one, else the catalogue's asset store."""
    s3 = S3AssetStore.from_settings(settings)
    if s3 is not None:
        return s3
    return CatalogueAssetStore(client, assets_url) if assets_url else None
