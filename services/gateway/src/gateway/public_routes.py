"""Which /api/ routes answer without a session (PUBLIC_ROUTES): everything else gets 401 at the gateway.

A rule is `[METHOD ]PATH`; in PATH a `*` segment matches one path segment, and a trailing `/*` matches
the rest of the path (or nothing). No method means any method.
"""

from __future__ import annotations

import re

DEFAULT_PUBLIC_ROUTES = ", ".join(
    [
        "POST /api/identity/v1/signup",
        "POST /api/identity/v1/login",
        "POST /api/identity/v1/login/mfa",
        "POST /api/identity/v1/invitations/accept",
        "/api/oauth/*",
        "GET /api/*/openapi.json",
        "GET /api/*/openapi.yaml",
        "GET /api/*/openapi.yml",
    ]
)
_METHOD = re.compile(r"^[A-Z]+$")


def _compile_path(path: str) -> re.Pattern[str]:
    if not path.startswith("/"):
        raise ValueError(f"PUBLIC_ROUTES: {path!r} must start with /")
    tail = ""
    if path.endswith("/*"):
        path, tail = path[:-2], "(?:/.*)?"
    parts = [("[^/]+" if segment == "*" else re.escape(segment)) for segment in path.split("/")]
    return re.compile("/".join(parts) + tail + r"\Z")


class PublicRoutes:
    def __init__(self, spec: str) -> None:
        self._rules: list[tuple[str | None, re.Pattern[str]]] = []
        for raw in spec.split(","):
            rule = raw.strip()
            if not rule:
                continue
            method, _, path = rule.partition(" ") if " " in rule else ("", "", rule)
            if method and not _METHOD.match(method):
                raise ValueError(f"PUBLIC_ROUTES: {rule!r} is not `[METHOD ]PATH`")
            self._rules.append((method or None, _compile_path(path.strip())))

    def allows(self, method: str, path: str) -> bool:
        """True when `method path` needs no session. HEAD follows GET, OPTIONS is never authenticated here."""
        wanted = "GET" if method == "HEAD" else method
        return any((m is None or m == wanted) and pattern.match(path) for m, pattern in self._rules)
