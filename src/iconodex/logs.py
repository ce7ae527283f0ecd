"""Operator logs: structured (key=value or JSON lines), with secrets masked everywhere."""

from __future__ import annotations

import json
import logging
import re

SECRET = re.compile(r"((?:key|token|secret|password|credential|api_key|apikey)[\w-]*=)([^&\s\"']+)", re.I)
USERINFO = re.compile(r"(https?://)[^/@\s]+@")


def mask(text: str) -> str:
    """Mask query-string secrets and URL credentials in any text."""
    return USERINFO.sub(r"\1***@", SECRET.sub(r"\1***", text))


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
    root = logging.getLogger("iconodex")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``message`` with structured ``fields`` (masked like the message)."""
    logger.log(level, message, extra={"fields": fields})
