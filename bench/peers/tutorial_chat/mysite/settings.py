"""Settings of the tutorial peer: the tutorial's, headless, with Redis from the environment."""
import os
import secrets

SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "chat",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]

ROOT_URLCONF = "mysite.urls"
ASGI_APPLICATION = "mysite.asgi.application"

# The tutorial's chat never touches the database (nothing is stored).
DATABASES = {}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
                    # Two redis-py defaults newer than the tutorial would handicap the peer,
                    # so it gets Fiko's values instead: a pool capped at 100 connections (100
                    # handshakes at once fail with MaxConnectionsError) and a 5 s socket
                    # timeout, equal to channels-redis's 5 s BZPOPMIN, so an idle consumer's
                    # receive can die with TimeoutError. Everything else is channels-redis's stock.
                    "max_connections": int(os.environ.get("REDIS_MAX_CONNECTIONS", 2000)),
                    "socket_timeout": float(os.environ.get("REDIS_SOCKET_TIMEOUT", 30)),
                }
            ]
        },
    },
}

USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
