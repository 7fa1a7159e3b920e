"""Process settings: environment (`LEADFLOW_...`, `__` nesting) over an optional TOML file.

Built once in the entry point and passed down; nothing reads settings globally.
The TOML file may also declare teams, managers and forms ("configuration as
code"); they are upserted into the store at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ingest.hours import check_hours, check_timezone
from leadflow.channel_settings import (
    PhoneWebhookSettings,
    TelegramBotSettings,
    TwilioSettings,
    WhatsAppSettings,
)
from leadflow.mail_settings import MailboxSettings, SmtpSettings


class KafkaSettings(BaseModel):
    bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port]; empty starts the embedded broker."
    )
    topic_prefix: str = ""
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    consumer_group: str = "leadflow-ingest"
    produce_timeout_s: float = Field(default=5.0, gt=0)
    linger_ms: int = Field(default=0, ge=0)
    fetch_max_wait_ms: int = Field(default=20, ge=1)
    background_fetch_max_wait_ms: int = Field(
        default=250,
        ge=1,
        description="Fetch wait of the consumers off the inquiry path (notifier, outbound "
        "dispatcher, the journal's confirmations): an idle consumer polls at this interval.",
    )
    embedded_max_memory_mib: int = Field(
        default=1024,
        ge=0,
        description="The embedded broker keeps every message in memory while it runs; past "
        "this many MiB `leadflow up` starts it again, empty (the edge journal republishes "
        "what the store has not confirmed). 0: no bound.",
    )
    embedded_max_cpu_share: float = Field(
        default=0.35,
        ge=0,
        description="Each fetch from the embedded broker lists every record batch it "
        "holds, so its CPU grows with all it has taken since it started; past this "
        "share of one core over 30 s, `leadflow up` starts it again, empty (as for the "
        "memory bound). 0: no bound.",
    )
    relay_partitioning: Literal["key", "round"] | None = Field(
        default=None,
        description="How the edge's relay spreads inquiries over the partitions: 'key' "
        "(by idempotency key, as Kafka's producer does) or 'round' (each produce round in "
        "one partition: one record batch per round instead of one per partition). Unset: "
        "'round' on the embedded broker, whose every fetch reads the list of every batch "
        "it holds, 'key' on any other.",
    )
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    max_batch: int = Field(default=500, ge=1)
    batch_linger_ms: int | None = Field(
        default=None,
        ge=0,
        description="Under load, the consumer gathers a small batch for up to this long "
        "(never at a low rate); 0 turns it off. Unset: 0 on SQLite, whose batches cost "
        "little beyond their inquiries, and 25 on PostgreSQL, where each costs round trips.",
    )


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///.leadflow/leadflow.db"
    pool_size: int = Field(default=10, ge=1)
    echo: bool = False
    auto_migrate: bool = Field(
        default=True,
        description="Run migrations at start; turn off when several replicas share it.",
    )


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(default=None, description="Base URL used in links.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    trusted_proxies: list[str] = Field(default_factory=list)
    header_timeout_s: float = Field(
        default=75.0,
        gt=0,
        description="Seconds a client has to send a request's headers, from connecting or "
        "from the previous response; also how long an idle keep-alive connection stays open "
        "(keep it above a load balancer's idle timeout, 60 s on most).",
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds a client has to send a request's whole body."
    )


class IngestSettings(BaseModel):
    default_region: str = "RU"
    default_language: Literal["en", "ru"] = Field(
        default="ru",
        description="The console's language for a person with no setting whose browser "
        "asks for none we have.",
    )
    default_team: str | None = None
    watch_interval_s: float = Field(
        default=30.0, gt=0, description="How often the SLA watcher looks for overdue leads."
    )
    stall_after_s: float = Field(
        default=60.0,
        gt=0,
        description="/readyz turns 503 when a consumer made no progress this long with work.",
    )
    sla_minutes: dict[str, int] = Field(
        default_factory=lambda: {
            "phone": 15,
            "telegram": 15,
            "whatsapp": 15,
            "web_form": 30,
            "email": 60,
            "import": 1440,
            "manual": 60,
        }
    )


class JournalSettings(BaseModel):
    """The edge journal every connector writes to before it acknowledges (docs/operations.md)."""

    path: Path | None = Field(
        default=None, description="The SQLite file; unset: <data_dir>/journal.sqlite3."
    )
    max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="Past this many bytes held, connectors answer 503 at once; 0: no limit.",
    )
    max_age_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="Past this age of the oldest unconfirmed entry, 503 at once; 0: no limit.",
    )
    republish_after_s: float = Field(
        default=120.0, gt=0, description="Publish an entry again when unconfirmed this long."
    )
    relay_batch: int = Field(default=500, ge=1, description="Entries per publish round.")
    group_linger_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="Once no more appends are queued, wait this long for more to commit together.",
    )
    relay_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="After a round that was not full, gather entries this long before the next.",
    )

    def file(self, data_dir: Path) -> Path:
        return self.path or data_dir / "journal.sqlite3"


class MemberConfig(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "head", "manager"] = "manager"
    capacity: int = Field(default=50, ge=0, le=1_000_000_000)
    active: bool = True
    # Checked here so a typo stops `leadflow up` with a sentence, not the pipeline later.
    timezone: Annotated[str, AfterValidator(check_timezone)] = "UTC"
    language: Literal["en", "ru"] | None = Field(
        default=None, description="The console's language; unset: the browser's (or theirs)."
    )
    working_hours: (
        Annotated[dict[str, list[tuple[str, str]]], AfterValidator(check_hours)] | None
    ) = Field(default=None, description='{"mon": [["09:00", "18:00"]], ...}; unset: always.')


class TeamConfig(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    strategy: Literal["round_robin", "least_loaded", "weighted"] = "round_robin"
    members: list[MemberConfig] = Field(default_factory=list)


class FormFieldConfig(BaseModel):
    name: str
    label: str
    maps_to: Literal["name", "email", "phone", "company", "subject", "message"] | None = None
    required: bool = False
    kind: Literal["text", "email", "tel", "textarea"] = "text"


class FormConfigModel(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")
    name: str
    team: str | None = None
    fields: list[FormFieldConfig]
    honeypot_field: str | None = "website"
    allowed_origins: list[str] = Field(default_factory=list)
    redirect_url: str | None = None
    language: Literal["en", "ru"] | None = Field(
        default=None, description="Language of the form's pages; none: the browser's."
    )
    ack_subject: str | None = Field(default=None, description="Email acknowledgement subject.")
    ack_body: str | None = Field(default=None, description="Email acknowledgement; none: no ack.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADFLOW_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path(".leadflow")
    log_level: str = "INFO"
    processes: Literal["auto", "one", "split"] = Field(
        default="auto",
        description="`leadflow up`: every role in one process, or the HTTP edge and the "
        "consumer in two supervised processes; `auto` splits when two cores or more are "
        "available (see README, Benchmarks).",
    )
    admin_token: SecretStr | None = Field(
        default=None, description="If set, an admin token with this value is ensured at start."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    teams: list[TeamConfig] = Field(default_factory=list)
    forms: list[FormConfigModel] = Field(default_factory=list)
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key for connector secrets; unset: <data_dir>/secret.key."
    )
    telegram_bots: list[TelegramBotSettings] = Field(default_factory=list)
    whatsapp: list[WhatsAppSettings] = Field(default_factory=list)
    twilio: list[TwilioSettings] = Field(default_factory=list)
    phone_webhooks: list[PhoneWebhookSettings] = Field(default_factory=list)
    mailboxes: list[MailboxSettings] = Field(default_factory=list)
    smtp: SmtpSettings | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, over `config_file` (TOML) when given."""
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(
            env_prefix="LEADFLOW_",
            env_nested_delimiter="__",
            extra="forbid",
            toml_file=config_file,
        )

    return FileSettings(**overrides)
