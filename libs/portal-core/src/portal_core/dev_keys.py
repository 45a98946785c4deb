"""Development-only signing keys for the identity assertion.

Published in the repository on purpose: they let `make dev` and the tests run with no set-up. Production
mode refuses to start while these are in use (see settings), so they never protect anything real.
"""

DEV_ASSERTION_PRIVATE_JWK = '{"crv": "Ed25519", "d": "uEuMXWgF9sPih-HH774ugpUPpcHX2CPTUGucUaJQVc0", "kid": "dev-2026-12", "kty": "OKP", "x": "RT0j2LIJyoq6GqEujG6faolNkGiPrajkNafLlYcNEZo"}'
DEV_ASSERTION_PUBLIC_JWKS = '{"keys": [{"crv": "Ed25519", "kid": "dev-2026-12", "kty": "OKP", "x": "RT0j2LIJyoq6GqEujG6faolNkGiPrajkNafLlYcNEZo"}]}'
