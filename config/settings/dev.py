"""Local development and the embedded default (`make run`)."""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=True)


def _dev_secret_key() -> str:
    # A per-checkout random key, kept under var/ so sessions survive restarts.
    import secrets

    path = BASE_DIR / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_secret_key()
MAIL_CAPTURE_DIR = env.str("MAIL_CAPTURE_DIR", default=str(BASE_DIR / "var" / "mailbox"))
STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedStaticFilesStorage"  # noqa: F405
