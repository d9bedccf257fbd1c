"""Signs in and calls the API through the Python client that openapi-python-client generated
from openapi/openapi.json, using nothing but that package (run by scripts/check-openapi).

    python signin.py PACKAGE      # PACKAGE: import name of the generated client

Environment: AIDBRIDGE_URL (the running server, e.g. http://127.0.0.1:8080), and optionally
AIDBRIDGE_USERNAME / AIDBRIDGE_PASSWORD (default: the demo login harbin.ca / aidbridge-demo).
"""

import importlib
import os
import sys


def fail(message: str) -> None:
    print(f"signin.py: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: signin.py PACKAGE")
    package = sys.argv[1]
    base_url = os.environ.get("AIDBRIDGE_URL") or fail("AIDBRIDGE_URL is not set")
    username = os.environ.get("AIDBRIDGE_USERNAME", "harbin.ca")
    password = os.environ.get("AIDBRIDGE_PASSWORD", "aidbridge-demo")

    client_mod = importlib.import_module(package)
    models = importlib.import_module(f"{package}.models")
    # Modules are named after the tag (`auth`) and the operationId (`issue_token`, `me`).
    issue_token = importlib.import_module(f"{package}.api.auth.issue_token")
    me = importlib.import_module(f"{package}.api.auth.me")

    anonymous = client_mod.Client(base_url=base_url, raise_on_unexpected_status=True)

    # The grant type is an enum in the document; the generated client models it as one.
    password_grant = models.GrantType("password")

    # Password grant (RFC 6749 §4.3), as the generated operation sends it.
    response = issue_token.sync_detailed(
        client=anonymous,
        body=models.TokenRequest(grant_type=password_grant, username=username, password=password),
    )
    if response.status_code != 200:
        fail(f"token request answered {int(response.status_code)}: {response.content[:500]!r}")
    token = response.parsed
    if not isinstance(token, models.TokenResponse):
        fail(f"token response parsed as {type(token).__name__}, expected TokenResponse")
    if token.token_type.lower() != "bearer" or not token.access_token:
        fail(f"unexpected token response {token!r}")
    print(f"signin.py: issue_token -> 200, {token.token_type} token for scope {token.scope!r}, expires in {token.expires_in} s")

    # A wrong password must come back as the documented OAuth error, parsed by the client.
    bad = issue_token.sync_detailed(
        client=anonymous,
        body=models.TokenRequest(grant_type=password_grant, username=username, password=password + "-wrong"),
    )
    if int(bad.status_code) not in (400, 401) or not isinstance(bad.parsed, models.OAuthError):
        fail(f"wrong password answered {int(bad.status_code)} parsed as {type(bad.parsed).__name__}: {bad.content[:500]!r}")
    print(f"signin.py: issue_token (wrong password) -> {int(bad.status_code)} {bad.parsed.error}")

    # The same call without a token must come back as a parsed problem+json 401.
    unauthenticated = me.sync_detailed(client=anonymous)
    if int(unauthenticated.status_code) != 401 or not isinstance(unauthenticated.parsed, models.Problem):
        fail(
            f"GET /api/v1/me without a token answered {int(unauthenticated.status_code)} "
            f"parsed as {type(unauthenticated.parsed).__name__}: {unauthenticated.content[:500]!r}"
        )
    print(f"signin.py: me (no token) -> 401 {unauthenticated.parsed.code}")

    # An authenticated GET with the token.
    authenticated = client_mod.AuthenticatedClient(
        base_url=base_url, token=token.access_token, raise_on_unexpected_status=True
    )
    caller = me.sync_detailed(client=authenticated)
    if caller.status_code != 200:
        fail(f"GET /api/v1/me answered {int(caller.status_code)}: {caller.content[:500]!r}")
    if not isinstance(caller.parsed, models.Me):
        fail(f"GET /api/v1/me parsed as {type(caller.parsed).__name__}, expected Me")
    if caller.parsed.name != username:
        fail(f"GET /api/v1/me returned {caller.parsed.name!r}, expected {username!r}")
    roles = ", ".join(str(getattr(r, "value", r)) for r in caller.parsed.roles)
    print(f"signin.py: me -> 200, {caller.parsed.name} ({roles}) of {caller.parsed.organization.name}")


if __name__ == "__main__":
    main()
