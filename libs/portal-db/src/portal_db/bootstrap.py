"""Create a service's database role and schema (dev stack and tests).

In production CloudNativePG declares the same thing (`Cluster.spec.managed.roles` plus a schema owned by the
role, created by the platform); this function only mirrors it locally. It is idempotent.
"""

from __future__ import annotations

import asyncpg

from portal_db.migrations import validate_identifier


async def bootstrap_service_db(admin_dsn: str, *, role: str, schema: str, password: str | None = None) -> None:
    """Ensure LOGIN role `role` (no superuser), schema `schema` owned by it, and the role's search_path = schema."""
    validate_identifier(role, "role")
    validate_identifier(schema)
    conn = await asyncpg.connect(admin_dsn)
    try:
        # One lock so two processes bootstrapping together do not both try CREATE ROLE.
        await conn.execute("SELECT pg_advisory_lock(hashtext('portal_db.bootstrap'))")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
            if password is not None:
                literal = await conn.fetchval("SELECT quote_literal($1)", password)
                await conn.execute(f"ALTER ROLE {role} PASSWORD {literal}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
            await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
            database = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
            await conn.execute(f"ALTER ROLE {role} SET search_path TO {schema}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('portal_db.bootstrap'))")
    finally:
        await conn.close()
