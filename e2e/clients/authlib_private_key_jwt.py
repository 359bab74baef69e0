"""Gets an access token from Clavis with authlib's private_key_jwt, as a partner's Python
integration would, and prints the token response as JSON.

Usage: authlib_private_key_jwt.py TOKEN_ENDPOINT CLIENT_ID PRIVATE_KEY_PEM_FILE ALG

authlib signs assertions valid for an hour by default; Clavis accepts at most five minutes
(issue 18), so the assertion is signed with expires_in=300, as the README tells partners.
"""

import json
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc.jwk import ECKey, OKPKey, RSAKey

KEY_TYPES = {"ES256": ECKey, "ES384": ECKey, "EdDSA": OKPKey}


class FiveMinutePrivateKeyJWT(PrivateKeyJWT):
    """authlib's private_key_jwt with assertions that live five minutes."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            expires_in=300,
        )


def main():
    token_endpoint, client_id, key_file, alg = sys.argv[1:5]
    with open(key_file, encoding="ascii") as pem:
        key = KEY_TYPES.get(alg, RSAKey).import_key(pem.read())
    session = OAuth2Session(
        client_id,
        key,
        token_endpoint_auth_method=FiveMinutePrivateKeyJWT(token_endpoint, alg=alg),
    )
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
    print(json.dumps(dict(token)))


if __name__ == "__main__":
    main()
