"""Operator logs: structured (key=value or JSON lines), with secrets masked everywhere."""

from __future__ import annotations

import json
import logging
import re

# Key-like parameters and URL credentials, also percent-encoded (a URL inside a query parameter,
# as an access log records it: ``url=https%3A%2F%2Fuser%3Apass%40host%3Ftoken%3D…``).
SECRET = re.compile(r"((?:key|token|secret|password|passwd|pwd|credential|signature|api_key|apikey)[\w-]*"
                    r"(?:=|%3D))([^&\s\"']+)", re.I)
USERINFO = re.compile(r"(https?(?:://|%3A%2F%2F))(?:(?!%2F|%40)[^/@\s?#&])+(?:@|%40)", re.I)
BEARER = re.compile(r"\b(Bearer|Basic)\s+[\w.~+/=-]+", re.I)


def mask(text: str) -> str:
    """Mask query-string secrets, URL credentials and Authorization values in any text."""
    return BEARER.sub(r"\1 ***", USERINFO.sub(r"\1***@", SECRET.sub(r"\1***", text)))


class MaskingFilter(logging.Filter):
    """Masks every record a handler emits, whichever formatter it uses (uvicorn's access log
    formats its own ``args``, so they are masked one by one and keep their types)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: mask(value) if isinstance(value, str) else value
                           for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


def masked_handlers(config: dict) -> dict:
    """A ``logging.config.dictConfig`` dict (uvicorn's) with ``MaskingFilter`` on every handler."""
    config = {**config, "filters": {**config.get("filters", {}), "mask": {"()": MaskingFilter}}}
    config["handlers"] = {name: {**handler, "filters": [*handler.get("filters", []), "mask"]}
                          for name, handler in config.get("handlers", {}).items()}
    return config


class MaskingFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = mask(record.getMessage())
        fields = {k: mask(str(v)) for k, v in getattr(record, "fields", {}).items()}
        if self.as_json:
            return json.dumps({"time": self.formatTime(record), "level": record.levelname.lower(),
                               "logger": record.name, "message": message, **fields}, ensure_ascii=False)
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.formatTime(record)} {record.levelname.lower()} {record.name}: {message} {extra}".rstrip()


def configure_logging(level: str = "warning", as_json: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter(as_json))
    handler.addFilter(MaskingFilter())  # exception text too, which the formatter does not see
    root = logging.getLogger("iconodex")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``message`` with structured ``fields`` (masked like the message)."""
    logger.log(level, message, extra={"fields": fields})
