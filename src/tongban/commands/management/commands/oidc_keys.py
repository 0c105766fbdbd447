from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

RESTART = (
    "新密钥在应用服务器和后台任务进程重启后生效（设置只在启动时读取密钥）：请依次重启全部应用服务器和 worker。"
    "重启前签发的令牌仍可用旧密钥验证：旧密钥继续在 JWKS 中公布。"
)


class Command(BaseCommand):
    help = (
        "The OpenID Connect signing keys in DATA_DIR/oidc/: rotate (a new active key; the previous one stays "
        "published in the JWKS as inactive-<timestamp>.pem), list, and prune old inactive keys."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rotate", help="make a new RS256 signing key; keep the previous one for verification; print the new kid")
        sub.add_parser("list", help="the kid of the active key and of every inactive key")
        prune = sub.add_parser("prune", help="delete inactive keys, keeping the newest ones")
        prune.add_argument("--keep", type=int, default=1, help="how many of the newest inactive keys to keep (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        if os.environ.get("OIDC_RSA_PRIVATE_KEY"):
            raise CommandError("签名密钥来自环境变量 OIDC_RSA_PRIVATE_KEY：请在那里更换密钥，本命令只管理 DATA_DIR/oidc/ 中的密钥文件。")
        directory = Path(settings.DATA_DIR) / "oidc"
        directory.mkdir(parents=True, exist_ok=True)
        if options["action"] == "rotate":
            self._rotate(directory)
        elif options["action"] == "list":
            self._list(directory)
        else:
            self._prune(directory, options["keep"])

    def _rotate(self, directory: Path) -> None:
        active = directory / "active.pem"
        if active.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            _write_secret(directory / f"inactive-{stamp}.pem", active.read_text())
        pem = _new_key()
        _write_secret(active, pem, replace=True)
        self.stdout.write(f"new active key: kid {_kid(pem)}")
        inactive = _inactive(directory)
        if inactive:
            self.stdout.write(f"still published for verification: {', '.join(_kid(p.read_text()) for p in inactive)}")
        self.stdout.write(RESTART)

    def _list(self, directory: Path) -> None:
        active = directory / "active.pem"
        self.stdout.write(f"active: {_kid(active.read_text()) if active.exists() else '(none yet: made at first start)'}")
        for path in _inactive(directory):
            self.stdout.write(f"inactive: {_kid(path.read_text())} ({path.name})")

    def _prune(self, directory: Path, keep: int) -> None:
        if keep < 0:
            raise CommandError("--keep 不能小于 0")
        inactive = _inactive(directory)
        doomed = inactive[: max(0, len(inactive) - keep)]
        for path in doomed:
            self.stdout.write(f"removed: {_kid(path.read_text())} ({path.name})")
            path.unlink()
        if doomed:
            self.stdout.write("重启全部应用服务器和 worker 后，JWKS 不再公布被删除的密钥；用它签名的 ID 令牌将无法再验证。")


def _inactive(directory: Path) -> list[Path]:
    """Oldest first, as settings reads them (the names sort by time)."""
    return sorted(directory.glob("inactive-*.pem"))


def _new_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _kid(pem: str) -> str:
    """The key id the JWKS publishes: the RFC 7638 thumbprint, as django-oauth-toolkit computes it."""
    from jwcrypto import jwk

    return str(jwk.JWK.from_pem(pem.strip().encode()).thumbprint())


def _write_secret(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a key file readable by its owner only; the active key is replaced atomically, so a
    process starting meanwhile reads the old key or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if not replace and path.exists():
        temporary.unlink()
        raise CommandError(f"{path.name} 已存在")
    os.replace(temporary, path)
