"""Staff sign-in through an OpenID Connect provider: the authorization code flow with PKCE (S256),
a state bound to the browser and a nonce bound to the ID token. The ID token (RS256 by the
provider's JWKS, or HS256 by the client secret) must come from the issuer, for this client, unexpired;
the role is the first value of its roles claim (REFERRAL_LOOP_OIDC_ROLES_CLAIM) that names one."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from referral_loop.settings import Settings
from referral_loop.web.oidc_pending import Pending, PendingSignins, TooManyUnderWay
from referral_loop.web.sessions import same_token
from referral_loop.web.users import Role, User


class OidcError(Exception):
    """The sign-in cannot be trusted; the message says why (never a token or a claim's value)."""


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OidcClient:
    """Sign-ins under way are kept in `pending` (shared by every process), the provider's discovery
    document in this process."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        pending: PendingSignins,
        roles_claim: str = "roles",
    ) -> None:
        self.issuer, self.client_id, self.client_secret = issuer.rstrip("/"), client_id, client_secret
        self.pending, self.roles_claim = pending, roles_claim
        self._metadata: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, s: Settings, pending: PendingSignins) -> OidcClient | None:
        if not s.oidc_issuer:
            return None
        secret = s.oidc_client_secret.get_secret_value()
        return cls(s.oidc_issuer, s.oidc_client_id, secret, pending, s.oidc_roles_claim)

    async def _get(self, url: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(url)
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            found = await self._get(f"{self.issuer}/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError("the provider's discovery document names another issuer")
            self._metadata = found
        return self._metadata

    async def begin(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL to send the browser to, and the state to bind to it."""
        state = secrets.token_urlsafe(32)
        pending = Pending(secrets.token_urlsafe(48), secrets.token_urlsafe(32), next_path)
        authorize = (await self.metadata())["authorization_endpoint"]
        try:
            await self.pending.add(state, pending)
        except TooManyUnderWay:
            raise OidcError("too many sign-ins under way") from None
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "nonce": pending.nonce,
            "code_challenge": challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        return f"{authorize}?{urlencode(query)}", state

    async def finish(self, state: str, code: str, redirect_uri: str) -> tuple[User, str]:
        """The signed-in user and where to go next; OidcError when anything does not check out."""
        pending = await self.pending.take(state)
        if pending is None:
            raise OidcError("unknown or expired sign-in")
        id_token = await self._exchange(code, pending.verifier, redirect_uri)
        claims = await self._claims(id_token)
        if not same_token(claims.get("nonce"), pending.nonce):
            raise OidcError("the ID token's nonce is not this sign-in's")
        return User(self._name(claims), self._role(claims)), pending.next

    async def _exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post((await self.metadata())["token_endpoint"], data=form)
        if answer.status_code != 200 or "id_token" not in answer.json():
            raise OidcError(f"the token endpoint answered {answer.status_code} without an ID token")
        return str(answer.json()["id_token"])

    async def _claims(self, id_token: str) -> dict[str, Any]:
        try:
            algorithm, issuer = (
                jwt.get_unverified_header(id_token).get("alg"),
                (await self.metadata())["issuer"],
            )
            key = self.client_secret if algorithm == "HS256" else await self._public_key(id_token, algorithm)
            claims: dict[str, Any] = jwt.decode(
                id_token, key, algorithms=[str(algorithm)], audience=self.client_id, issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]}, leeway=60,
            )  # fmt: skip
        except jwt.PyJWTError as error:
            raise OidcError(f"the ID token does not check out ({type(error).__name__})") from None
        return claims

    async def _public_key(self, id_token: str, algorithm: object) -> Any:
        if algorithm != "RS256":
            raise OidcError("the ID token is signed neither RS256 nor HS256")
        kid = jwt.get_unverified_header(id_token).get("kid")
        keys = (await self._get((await self.metadata())["jwks_uri"])).get("keys", [])
        matching = [k for k in keys if kid is None or k.get("kid") == kid]
        if not matching:
            raise OidcError("no key of the provider signed the ID token")
        return jwt.PyJWK(matching[0], algorithm="RS256").key

    def _role(self, claims: dict[str, Any]) -> Role:
        granted = claims.get(self.roles_claim, [])
        for value in [granted] if isinstance(granted, str) else granted:
            if value in Role._value2member_map_:
                return Role(value)
        raise OidcError("the provider grants this person no Referral Loop role")

    def _name(self, claims: dict[str, Any]) -> str:
        return str(claims.get("preferred_username") or claims.get("email") or claims["sub"])[:200]
