from typing import ClassVar

import pytest
from portal_core.settings import BaseSettings, Secret, ServiceSettings, SettingsError, load_settings, redacted


class _Example(BaseSettings, kw_only=True, frozen=True):
    required_in_production: ClassVar[tuple[str, ...]] = ("public_url",)

    port: int = 8000
    debug: bool = False
    signing_key: Secret = Secret("dev-only")
    optional_key: Secret | None = None
    public_url: str = "http://localhost"


def test_values_are_typed_from_strings() -> None:
    settings = load_settings(_Example, {"PORT": "9001", "DEBUG": "true", "SIGNING_KEY": "s3cr3t"})
    assert settings.port == 9001
    assert settings.debug is True
    assert settings.signing_key.reveal() == "s3cr3t"


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PORT"):
        load_settings(_Example, {"PORT": "eighty"})


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="ENVIRONMENT"):
        load_settings(_Example, {"ENVIRONMENT": "prod"})


def test_production_refuses_dev_secrets_and_names_each_missing_one() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(_Example, {"ENVIRONMENT": "production"})
    assert "SIGNING_KEY" in str(err.value)
    assert "PUBLIC_URL" in str(err.value)
    assert "OPTIONAL_KEY" not in str(err.value)


def test_production_starts_when_everything_is_set() -> None:
    settings = load_settings(
        _Example, {"ENVIRONMENT": "production", "SIGNING_KEY": "k", "PUBLIC_URL": "https://portal.example"}
    )
    assert settings.environment == "production"


def test_secrets_never_show_in_repr_or_redacted_view() -> None:
    settings = load_settings(
        ServiceSettings,
        {"REDIS_PASSWORD": "hunter2hunter2", "DATABASE_URL": "postgresql://svc:pa55word@db:5432/portal"},
    )
    assert "hunter2" not in repr(settings)
    view = redacted(settings)
    assert view["redis_password"] == "**********"
    assert "pa55word" not in view["database_url"]
    assert view["database_url"].startswith("postgresql://svc:")


def test_empty_variable_means_default() -> None:
    assert load_settings(_Example, {"PORT": ""}).port == 8000
