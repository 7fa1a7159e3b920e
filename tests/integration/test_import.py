"""`leadflow import` through the CLI function: encodings, XLSX, rejected rows, re-import."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import openpyxl
import pytest

from crm_store.database import Database
from ingest.contract import Topics
from leadflow.broker import advertised_broker
from leadflow.importer import run_import
from leadflow.settings import Settings

from ..conftest import BrokerProcess
from .channel_helpers import DEAD_BROKER, read_inquiries
from .helpers import consumer_for, lead_count, seed_team

pytestmark = pytest.mark.integration

ROWS = [
    ["ФИО", "Телефон", "Email", "Комментарий"],
    ["Иван Петров", "8 (912) 345-67-89", "", "Нужна доставка"],
    ["Мария Соколова", "", "maria@example.com", "Перезвоните"],
    ["Без контактов", "", "", "ничего"],
    ["Ольга", "12345", "", "плохой номер"],
]


def settings_for(bootstrap: str | None, topics: Topics, data_dir: Path) -> Settings:
    kafka = {"topic_prefix": topics.prefix, "produce_timeout_s": 2.0}
    if bootstrap:
        kafka["bootstrap_servers"] = bootstrap
    return Settings(kafka=kafka, data_dir=data_dir)


def args(path: Path, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {"file": path, "team": "Sales", "mapping": "", "rejected": None}
    values.update(extra)
    return argparse.Namespace(**values)


def write_csv(path: Path, encoding: str, delimiter: str) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(ROWS)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        pytest.param("utf-8", ",", id="utf8-comma"),
        pytest.param("utf-8-sig", ";", id="utf8-bom-semicolon"),
        pytest.param("cp1251", ";", id="cp1251-semicolon"),
    ],
)
async def test_csv_in_each_encoding_publishes_good_rows_and_reports_bad_ones(
    broker: BrokerProcess,
    topics: Topics,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoding: str,
    delimiter: str,
) -> None:
    path = write_csv(tmp_path / "leads.csv", encoding, delimiter)
    settings = settings_for(broker.bootstrap_servers, topics, tmp_path)
    assert await run_import(settings, args(path)) == 0
    out, err = capsys.readouterr()
    assert "leads.csv: 2 rows published, 2 rejected" in out
    assert "row 4: The row has neither a phone number nor an email address" in out
    assert "row 5: Column 'Телефон'" in out
    assert "[##############################] 4/4 rows" in err
    inquiries = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 2)
    assert {i.sender.name for i in inquiries} == {"Иван Петров", "Мария Соколова"}
    assert {i.channel for i in inquiries} == {"import"}
    assert {i.routing.team for i in inquiries} == {"Sales"}
    text = (tmp_path / "leads.rejected.csv").read_text(encoding="utf-8-sig")
    rejected = list(csv.reader(io.StringIO(text)))
    assert rejected[0] == ["row", "reason", "ФИО", "Телефон", "Email", "Комментарий"]
    assert rejected[1][0] == "4"
    assert rejected[1][1].startswith("The row has neither")
    assert rejected[2][0] == "5"
    assert rejected[2][2:] == ["Ольга", "12345", "", "плохой номер"]


async def test_xlsx_with_bad_rows_then_reimport_makes_no_duplicates(
    broker: BrokerProcess, topics: Topics, db: Database, tmp_path: Path
) -> None:
    await seed_team(db)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [["Name", "Phone", "Company"], ["Anna", 79123456780.0, "Acme"], ["Bad", "x", ""]]:
        sheet.append(row)
    sheet.append(["Boris", "+7 912 345-67-81", "Beta"])
    path = tmp_path / "leads.xlsx"
    workbook.save(path)
    rejected = tmp_path / "fix-me.csv"
    settings = settings_for(broker.bootstrap_servers, topics, tmp_path)
    assert await run_import(settings, args(path, rejected=rejected, team=None)) == 0
    rows = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["3"]
    assert rows[1][1].startswith("Column 'Phone'")
    async with consumer_for(broker.bootstrap_servers, topics, db) as consumer:
        assert await consumer.run(until_idle=True) == 2
        assert await lead_count(db) == 2
        assert await run_import(settings, args(path, rejected=rejected)) == 0
        assert await consumer.run(until_idle=True) == 2
    assert await lead_count(db) == 2, "the same file again makes no new leads"


async def test_mapping_override_and_bad_mapping(
    broker: BrokerProcess, topics: Topics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Who,Reach me at\nIvan,ivan@example.com\n")
    settings = settings_for(broker.bootstrap_servers, topics, tmp_path)
    assert await run_import(settings, args(path, mapping="Who=name,Reach me at=email")) == 0
    assert "1 rows published, 0 rejected" in capsys.readouterr().out
    assert await run_import(settings, args(path, mapping="Who=nonsense")) == 2
    assert "bad --mapping" in capsys.readouterr().err
    assert await run_import(settings, args(path)) == 2
    assert "No column is a phone or an email" in capsys.readouterr().err


async def test_unreachable_broker_is_exit_1_with_a_sentence(
    topics: Topics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "leads.csv", "utf-8", ",")
    settings = settings_for(DEAD_BROKER, topics, tmp_path)
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"produce_timeout_s": 0.5})}
    )
    assert await run_import(settings, args(path)) == 1
    assert "is not reachable; nothing imported" in capsys.readouterr().err
    no_broker = settings_for(None, topics, tmp_path / "empty")
    assert await run_import(no_broker, args(path)) == 1
    assert "start 'leadflow up' first" in capsys.readouterr().err


async def test_the_running_broker_is_found_through_the_data_dir(
    broker: BrokerProcess, topics: Topics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "leads.csv", "utf-8", ",")
    settings = settings_for(None, topics, tmp_path / "data")
    with advertised_broker(tmp_path / "data", broker.bootstrap_servers) as broker_file:
        assert broker_file.read_text().strip() == broker.bootstrap_servers
        assert await run_import(settings, args(path)) == 0
    assert not broker_file.exists(), "the file goes away with the broker"
    assert "2 rows published" in capsys.readouterr().out
