"""Who is calling: one server interceptor authenticates every call, by service.

- User services (every service but the agent's, health and reflection): with a token file, the
  call must carry ``authorization: Bearer <token>`` naming a token of that file.
- ``gamefleet.v1.AgentService``: with mTLS, the call must come with a client certificate, signed
  by the hub's CA, that names one cluster (see :func:`hub.security.ca.cluster_identity`).
- Health and reflection stay open, so probes and tools work without credentials.
Anything else ends the call with UNAUTHENTICATED before the servicer sees a request.

How it reads the peer: a grpc.aio interceptor sees only the method and the metadata, not the TLS
peer. So, like ``ErrorInterceptor``, this one wraps the handler's behavior and checks
``context.auth_context()`` inside it, before calling the servicer or reading the first message.

Why two ports: grpcio's Python credentials either require a client certificate
(``require_client_auth=True``) or never ask for one (``False`` maps to
``GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE``), so one port cannot serve token-only users and
certificate-bearing agents. :func:`add_ports` binds a user port (TLS, no client certificate) and
an agent port (mTLS required) on the same server; the interceptor applies the same rules on both,
so AgentService on the user port is UNAUTHENTICATED and the user API on the agent port still
needs a token.

The AgentService servicer binds the stream to :func:`cluster_identity` and checks each message's
cluster with :func:`check_cluster`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import grpc

from hub.security import ca as security_ca
from hub.security import tokens as security_tokens

from . import errors, handlers, startup

log = logging.getLogger(__name__)

AGENT_SERVICE = "gamefleet.v1.AgentService"
OPEN_SERVICES = frozenset({"grpc.health.v1.Health"})
OPEN_SERVICE_PREFIXES = ("grpc.reflection.",)
AUTHORIZATION = "authorization"
PEM_CERT_KEY = "x509_pem_cert"

MISSING_TOKEN = "missing bearer token"
INVALID_TOKEN = "invalid bearer token"
MISSING_CERT = (
    "AgentService needs a client certificate from the hub's CA; connect to the hub's agent port"
)

_user: contextvars.ContextVar[str | None] = contextvars.ContextVar("gamefleet_user", default=None)

Context = handlers.Context
Behavior = handlers.Behavior
Check = Callable[[Context], Awaitable[None]]


class Rule(enum.Enum):
    OPEN = "open"
    USER = "user"
    AGENT = "agent"


def rule_for(method: str) -> Rule:
    """The rule for a full method name such as ``/gamefleet.v1.FleetService/GetFleet``."""
    service = method.lstrip("/").partition("/")[0]
    if service == AGENT_SERVICE:
        return Rule.AGENT
    if service in OPEN_SERVICES or service.startswith(OPEN_SERVICE_PREFIXES):
        return Rule.OPEN
    return Rule.USER


def current_user() -> str | None:
    """The user the token of the current call names; None without a token file or outside a call."""
    return _user.get()


@functools.lru_cache(maxsize=1024)
def _identity_of(pem: bytes) -> str | security_ca.IdentityError:
    try:
        return security_ca.cluster_identity(pem)
    except security_ca.IdentityError as exc:
        return exc


def _peer_certificate(auth_context: Mapping[str, Iterable[bytes]]) -> bytes | None:
    for pem in auth_context.get(PEM_CERT_KEY, ()):
        return pem
    return None


def cluster_identity(context: Context) -> str | None:
    """The cluster the caller's client certificate names, or None when it presented none.

    Raises IdentityError when the certificate names no cluster (the interceptor has already
    refused such calls when mTLS is on). Parsing is cached per certificate, so calling this for
    every message costs a dictionary lookup.
    """
    pem = _peer_certificate(context.auth_context())
    if pem is None:
        return None
    identity = _identity_of(pem)
    if isinstance(identity, security_ca.IdentityError):
        raise identity
    return identity


def check_cluster(identity: str | None, claimed: str, field: str) -> None:
    """Refuse a message about another cluster than the certificate's: PERMISSION_DENIED.

    ``identity`` None means mTLS is off (development): nothing to check against.
    """
    if identity is None or claimed == identity:
        return
    raise errors.AbortError(
        grpc.StatusCode.PERMISSION_DENIED,
        f"{field}: the client certificate is for cluster {identity!r}, not {claimed!r}",
    )


def _metadata_value(metadata: Iterable[tuple[str, str | bytes]] | None, key: str) -> str | None:
    for name, value in metadata or ():
        if name.lower() == key:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


class AuthInterceptor(handlers.Interceptor):
    """Authenticates every call by its service: bearer tokens for users, certificates for agents.

    ``tokens`` None leaves the user API open; ``require_agent_cert`` False leaves AgentService
    open. Both are for development only.
    """

    def __init__(
        self, tokens: security_tokens.TokenFile | None, *, require_agent_cert: bool
    ) -> None:
        self.tokens = tokens
        self.require_agent_cert = require_agent_cert
        if tokens is not None and not require_agent_cert:
            log.warning("user API needs tokens but AgentService takes any caller: set a client CA")

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        check = self._check_for(handler_call_details)
        if check is None:
            return handler
        return _wrapped(handler, check)

    def _check_for(self, details: grpc.HandlerCallDetails) -> Check | None:
        rule = rule_for(details.method)
        if rule is Rule.USER and self.tokens is not None:
            metadata = cast(Iterable[tuple[str, str | bytes]], details.invocation_metadata)
            return self._user_check(_metadata_value(metadata, AUTHORIZATION))
        if rule is Rule.AGENT and self.require_agent_cert:
            return _check_agent
        return None

    def _user_check(self, authorization: str | None) -> Check:
        assert self.tokens is not None
        token = security_tokens.bearer_token(authorization) if authorization else None
        user = self.tokens.authenticate(token) if token else None

        async def check(context: Context) -> None:
            if user is not None:
                _user.set(user)
                return
            details = MISSING_TOKEN if token is None else INVALID_TOKEN
            log.info("refused %s: %s", context.peer(), details)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, details)

        return check


async def _check_agent(context: Context) -> None:
    try:
        identity = cluster_identity(context)
    except security_ca.IdentityError as exc:
        log.info("refused agent %s: client certificate: %s", context.peer(), exc)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"client certificate: {exc}")
    if identity is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, MISSING_CERT)


def _wrap_unary(behavior: Behavior, check: Check) -> Behavior:
    async def handle(request: Any, context: Context) -> Any:
        await check(context)
        return await behavior(request, context)

    return handle


def _wrap_stream(behavior: Behavior, check: Check) -> Behavior:
    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        await check(context)
        async for item in behavior(request, context):
            yield item

    return handle


def _wrapped(
    handler: grpc.RpcMethodHandler[Any, Any], check: Check
) -> grpc.RpcMethodHandler[Any, Any]:
    return handlers.rewrap(
        handler,
        functools.partial(_wrap_unary, check=check),
        functools.partial(_wrap_stream, check=check),
    )


def interceptor(token_file: Path | None, client_ca: Path | None) -> AuthInterceptor:
    """The interceptor for a hub configured with these files (each None to leave it open);
    StartError naming ``token_file`` when it cannot be read."""
    tokens = None
    if token_file is not None:
        try:
            tokens = security_tokens.load_token_file(token_file)
        except OSError as exc:
            raise startup.StartError(
                "token_file", f"cannot read {token_file}: {exc.strerror or exc}"
            ) from exc
        except ValueError as exc:
            raise startup.StartError("token_file", str(exc)) from exc
    return AuthInterceptor(tokens, require_agent_cert=client_ca is not None)


def server_credentials(
    cert: bytes, key: bytes, client_ca: bytes | None = None
) -> grpc.ServerCredentials:
    """TLS server credentials from PEM bytes.

    With ``client_ca``, every client must present a certificate that CA signed: use it for the
    agent port only (see the module docstring for why one port cannot do both).
    """
    if client_ca is None:
        return grpc.ssl_server_credentials([(key, cert)])
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=True
    )


@dataclasses.dataclass(frozen=True)
class BoundPorts:
    user: int
    agent: int | None


def add_ports(
    server: grpc.aio.Server,
    listen: str,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    client_ca: Path | None = None,
    agent_listen: str | None = None,
) -> BoundPorts:
    """Bind the user port and, with a client CA, the agent port; StartError naming the setting
    at fault (a bad mix, a file that cannot be read, an address that cannot be bound).

    Without ``tls_cert`` the user port is plaintext (development). ``client_ca`` and
    ``agent_listen`` go together and need TLS.
    """
    if (tls_cert is None) != (tls_key is None):
        missing = "tls_key" if tls_key is None else "tls_cert"
        raise startup.StartError(missing, "tls_cert and tls_key go together")
    if (client_ca is None) != (agent_listen is None):
        missing = "agent_listen" if agent_listen is None else "client_ca"
        raise startup.StartError(
            missing, "client_ca and agent_listen go together: agents use their own mTLS port"
        )
    if tls_cert is None or tls_key is None:
        if client_ca is not None:
            raise startup.StartError("client_ca", "needs tls_cert and tls_key")
        return BoundPorts(_bound(server.add_insecure_port, listen, "listen"), None)
    cert = startup.read_file(tls_cert, "tls_cert")
    key = startup.read_file(tls_key, "tls_key")
    try:
        credentials = server_credentials(cert, key)
    except (ValueError, RuntimeError) as exc:
        raise startup.StartError("tls_cert", f"not a usable certificate and key: {exc}") from exc
    user = _bound(
        functools.partial(server.add_secure_port, server_credentials=credentials), listen, "listen"
    )
    if client_ca is None or agent_listen is None:
        return BoundPorts(user, None)
    ca_pem = startup.read_file(client_ca, "client_ca")
    agent = _bound(
        functools.partial(
            server.add_secure_port, server_credentials=server_credentials(cert, key, ca_pem)
        ),
        agent_listen,
        "agent_listen",
    )
    return BoundPorts(user, agent)


def _bound(bind: Callable[[str], int], address: str, setting: str) -> int:
    startup.check_bindable(address, setting)
    try:
        port = bind(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise startup.StartError(setting, f"cannot listen on {address}")
    return port
