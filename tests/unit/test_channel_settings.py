"""Channel settings, their round trip through the store's shape, and the secret box."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from connectors.config import TelegramBotConfig
from connectors.telegram import render_ack_context
from leadflow.channel_settings import KINDS, TelegramBotSettings, TwilioSettings
from leadflow.secrets import KEY_FILE, SecretBox, SecretsUnreadable, load_secret_box
from leadflow.settings import Settings


def test_settings_split_into_plain_and_secret_and_back() -> None:
    bot = TelegramBotSettings(
        name="sales", token=SecretStr("1:abc"), mode="webhook", webhook_secret=SecretStr("s-1")
    )
    plain, secrets = bot.split()
    assert secrets == {"token": "1:abc", "webhook_secret": "s-1"}
    assert "token" not in plain and plain["mode"] == "webhook"
    again = KINDS["telegram"].from_store(name="sales", team=None, settings=plain, secrets=secrets)
    config = again.to_config("https://leads.test")
    assert isinstance(config, TelegramBotConfig)
    assert config.webhook_url() == "https://leads.test/webhooks/telegram/sales"
    assert config.bot_id == "1"
    assert "1:abc" not in repr(config)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"mode": "webhook"}, id="webhook-without-secret"),
        pytest.param({"mode": "webhook", "webhook_secret": "has space"}, id="bad-secret-chars"),
        pytest.param({"name": "../x"}, id="bad-name"),
        pytest.param({"surprise": 1}, id="unknown-key"),
    ],
)
def test_invalid_telegram_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TelegramBotSettings.model_validate({"name": "sales", "token": "1:abc", **bad})


def test_public_url_falls_back_to_the_server_one() -> None:
    twilio = TwilioSettings(name="main", auth_token=SecretStr("t"))
    assert twilio.to_config("https://x.test").public_url == "https://x.test"


def test_settings_take_channel_lists_from_toml(tmp_path: Path) -> None:
    toml = tmp_path / "leadflow.toml"
    toml.write_text(
        '[[telegram_bots]]\nname = "sales"\ntoken = "1:abc"\n'
        '[[phone_webhooks]]\nname = "pbx"\nsecret = "x"\n'
    )
    from leadflow.settings import load_settings

    settings = load_settings(toml)
    assert [b.name for b in settings.telegram_bots] == ["sales"]
    assert settings.phone_webhooks[0].provider == "generic"
    assert isinstance(Settings().secret_key, type(None))


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox(Fernet.generate_key())
    token = box.encrypt({"token": "1:abc"})
    assert "1:abc" not in token
    assert box.decrypt(token) == {"token": "1:abc"}
    assert box.decrypt(None) == {}
    with pytest.raises(SecretsUnreadable):
        SecretBox(Fernet.generate_key()).decrypt(token)
    with pytest.raises(ValueError, match="Fernet key"):
        SecretBox(b"too short")


def test_key_file_is_made_once_with_owner_only_access(tmp_path: Path) -> None:
    first = load_secret_box(None, tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_secret_box(None, tmp_path / "data")
    assert second.decrypt(first.encrypt({"a": "b"})) == {"a": "b"}


def test_ack_template_renders_from_the_outbound_context() -> None:
    template = "Здравствуйте, {first_name}! {unknown} {phone}"
    assert render_ack_context(template, {"name": "Иван Петров"}) == "Здравствуйте, Иван! {unknown} "
