"""A run's estimated cost: its manifest read back from CloudWatch Logs (moto), its prices from the
Price List stand-in behind a real pricing client, and the sums checked against hand-computed ones."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from omics_batch_construct_runtime import runcost
from omics_batch_construct_runtime.errors import ApiError
from omics_batch_construct_runtime.omics import omics_client
from omics_batch_construct_runtime.runcost import (
    DYNAMIC_STORAGE,
    STATIC_STORAGE,
    PriceBook,
    RunCost,
    RunManifest,
    Task,
    manifest_stream,
    parse_manifest,
    read_manifest,
    run_cost,
    static_storage_gib,
    usd,
)
from tests.standin.pricing import DEFAULT_PRICES, PriceList, pricing_client
from tests.standin.workflowlog import LOG_GROUP, put_manifest, put_records, run_record, task_record

REGION = "us-east-1"
CREDENTIALS = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "y"}
RUN_ID, RUN_UUID = "1234567", "0f5c2e4a-8d3b-4c1e-9a7f-2b6d8e0c4a11"
ATTEMPTS = 3  # the pricing client's, first one included
T0 = datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def price(resource_type: str) -> Decimal:
    return Decimal(DEFAULT_PRICES[resource_type])


@pytest.fixture
def logs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("logs", **CREDENTIALS)


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays botocore's retries would have slept (it calls time.sleep)."""
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    return delays


@pytest.fixture
def pricing(backoff: list[float]) -> Any:
    return pricing_client(attempts=ATTEMPTS)


@pytest.fixture
def price_list(pricing: Any) -> Iterator[PriceList]:
    service = PriceList()
    with service.serving(pricing):
        yield service


@pytest.fixture
def book(pricing: Any, price_list: PriceList) -> PriceBook:
    return PriceBook(pricing, REGION)


def manifest(**fields: Any) -> RunManifest:
    values: dict[str, Any] = {
        "run_id": RUN_ID,
        "storage_type": "STATIC",
        "storage_capacity": 1200,
        "start": at(0),
        "stop": at(60),
        "storage_average_gib": None,
        "tasks": (),
    }
    values.update(fields)
    return RunManifest(**values)


def read_back(logs: Any) -> RunManifest:
    read = read_manifest(logs, RUN_ID, RUN_UUID)
    assert read is not None
    return read


def task(name: str, instance_type: str, seconds: float, status: str = "COMPLETED", start: float = 1) -> Task:
    return Task(name, status, instance_type, at(start), at(start) + datetime.timedelta(seconds=seconds), seconds)


# --- the facts, held against the models ----------------------------------------------------


def test_the_page_size_is_the_largest_getproducts_allows(pricing: Any) -> None:
    member = pricing.meta.service_model.operation_model("GetProducts").input_shape.members["MaxResults"]
    assert member.metadata["max"] == runcost.PAGE_SIZE


def test_statuses_and_storage_types_are_the_omics_models() -> None:
    model = omics_client(**CREDENTIALS).meta.service_model
    assert runcost.TASK_FAILED in model.shape_for("TaskStatus").enum
    assert {runcost.STATIC, runcost.DYNAMIC} == set(model.shape_for("StorageType").enum)


def test_the_manifest_stream_is_the_user_guides() -> None:
    assert runcost.WORKFLOW_LOG_GROUP == LOG_GROUP == "/aws/omics/WorkflowLog"
    assert manifest_stream(RUN_ID, RUN_UUID) == f"manifest/run/{RUN_ID}/{RUN_UUID}"


# --- costs, by hand -----------------------------------------------------------------------


def test_a_static_run_costs_its_tasks_and_its_allocated_storage(logs: Any, book: PriceBook) -> None:
    put_manifest(
        logs,
        RUN_ID,
        RUN_UUID,
        storage_type="STATIC",
        storage_capacity=1200,
        start=at(0),
        stop=at(150),  # 2.5 hours
        tasks=[
            task_record("align", "omics.m.xlarge", at(1), 3000),
            task_record("qc", "omics.c.large", at(52), 30),  # under a minute: billed a minute
        ],
    )

    cost = run_cost(read_back(logs), book)

    # 0.2592 $/h x 3000 s + 0.1148 $/h x 60 s; 0.0001918 $/GiB-h x 1200 GiB x 2.5 h
    assert cost.compute is not None and abs(cost.compute - (Decimal("0.216") + Decimal("0.1148") / 60)) < Decimal(
        "1e-20"
    )
    assert usd(cost.compute) == "0.2179"
    assert cost.storage == Decimal("0.5754")
    assert usd(cost.total) == "0.7933" and cost.missing == ()
    assert book.asked == 3  # two instance types and the STATIC storage


def test_a_dynamic_run_costs_its_average_storage(logs: Any, book: PriceBook, price_list: PriceList) -> None:
    put_manifest(
        logs,
        RUN_ID,
        RUN_UUID,
        storage_type="DYNAMIC",
        start=at(0),
        stop=at(180),  # 3 hours
        storage_average_gib=512.5,
        tasks=[
            # no metrics.runningSeconds: stop - start is the running time
            task_record("call", "omics.r.2xlarge", at(2), 7200, running_seconds=False),
            task_record("merge", "omics.c.xlarge", at(125), 1800),
        ],
    )

    cost = run_cost(read_back(logs), book)

    assert cost.compute == Decimal("0.6384") * 2 + Decimal("0.2296") / 2 == Decimal("1.3916")
    assert cost.storage == Decimal("0.0004110") * Decimal("512.5") * 3 == Decimal("0.6319125")
    assert cost.total == Decimal("2.0235125") and usd(cost.total) == "2.0235"
    assert sorted(p["Filters"][1]["Value"] for _, p in price_list.calls) == [
        DYNAMIC_STORAGE,
        "omics.c.xlarge",
        "omics.r.2xlarge",
    ]


@pytest.mark.parametrize(
    ("capacity", "gib"),
    [(None, 1200), (0, 1200), (1200, 1200), (1201, 2400), (2400, 2400), (2401, 4800), (4801, 7200), (9600, 9600)],
)
def test_static_storage_is_1200_gib_or_a_multiple_of_2400(capacity: int | None, gib: int) -> None:
    assert static_storage_gib(capacity) == gib


def test_a_static_run_prices_its_rounded_capacity(book: PriceBook) -> None:
    cost = run_cost(manifest(storage_capacity=4801, stop=at(30)), book)
    assert cost.storage == price(STATIC_STORAGE) * 7200 / 2 and cost.compute == 0


def test_a_manifest_without_a_storage_type_is_static() -> None:
    read = parse_manifest([json.dumps(run_record(RUN_ID, storage_type=None, start=at(0), stop=at(60)))], RUN_ID)
    assert read.storage_type == "STATIC" and read.storage_capacity is None


def test_a_dynamic_run_without_an_average_has_no_storage_cost(book: PriceBook, price_list: PriceList) -> None:
    cost = run_cost(manifest(storage_type="DYNAMIC", tasks=(task("a", "omics.c.large", 3600),)), book)
    assert (cost.compute, cost.storage, cost.total) == (price("omics.c.large"), Decimal(0), price("omics.c.large"))
    assert [p["Filters"][1]["Value"] for _, p in price_list.calls] == ["omics.c.large"]  # storage not asked


def test_a_missing_price_leaves_its_component_unknown(pricing: Any) -> None:
    service = PriceList(defaults=False)
    service.add_product("omics.c.large", "0.1148")
    with service.serving(pricing):
        book = PriceBook(pricing, REGION)
        cost = run_cost(
            manifest(tasks=(task("a", "omics.c.large", 3600), task("b", "omics.x.new", 60), task("c", "omics.y", 1))),
            book,
        )
    assert cost == RunCost(compute=None, storage=None, missing=("omics.x.new", "omics.y", STATIC_STORAGE))
    assert cost.total is None and usd(cost.total) == ""


def test_a_missing_storage_price_leaves_compute_known(pricing: Any, price_list: PriceList) -> None:
    price_list.add_product("omics.c.large", "0.1148", region="eu-west-1")  # no storage there
    book = PriceBook(pricing, "eu-west-1")
    cost = run_cost(manifest(tasks=(task("a", "omics.c.large", 7200),)), book)
    assert cost.compute == Decimal("0.2296") and cost.storage is None and cost.missing == (STATIC_STORAGE,)
    assert cost.total is None and book.asked == 2


def test_tasks_without_an_instance_type_or_a_start_cost_nothing(book: PriceBook) -> None:
    never = Task("never", "CANCELLED", "omics.c.large", None, None, 0.0)
    engine = Task("engine", "COMPLETED", "", at(0), at(60), 3600.0)
    run = manifest(stop=None, tasks=(never, engine, task("a", "omics.c.large", 0.5)))
    assert run.instance_seconds == {"omics.c.large": 60.0}
    assert run_cost(run, book) == RunCost(compute=price("omics.c.large") / 60, storage=Decimal(0))


def test_instance_seconds_add_up_by_type() -> None:
    run = manifest(
        tasks=(task("a", "omics.c.large", 10), task("b", "omics.c.large", 90.5), task("c", "omics.m.xlarge", 3600))
    )
    assert run.instance_seconds == {"omics.c.large": 150.5, "omics.m.xlarge": 3600.0}


def test_failed_task_is_the_first_failed_one_in_creation_order(logs: Any) -> None:
    put_manifest(
        logs,
        RUN_ID,
        RUN_UUID,
        start=at(0),
        stop=at(90),
        tasks=[
            task_record("late", "omics.c.large", at(20), 60, status="FAILED"),
            task_record("ok", "omics.c.large", at(1), 600),
            task_record("early", "omics.c.large", at(5), 60, status="FAILED"),
            task_record("cancelled", "omics.c.large", at(30), 60, status="CANCELLED"),
        ],
    )
    read = read_manifest(logs, RUN_ID, RUN_UUID)
    assert read is not None
    assert [t.name for t in read.tasks] == ["ok", "early", "late", "cancelled"]
    assert read.failed_task == "early"
    assert manifest(tasks=(task("a", "omics.c.large", 1),)).failed_task == ""


# --- reading the manifest -----------------------------------------------------------------


def test_the_manifest_is_read_page_by_page(logs: Any) -> None:
    created = [at(60 - minute) for minute in range(25)]  # written newest first
    put_manifest(
        logs,
        RUN_ID,
        RUN_UUID,
        storage_type="DYNAMIC",
        storage_capacity=4000,
        start=at(0),
        stop=at(120),
        storage_average_gib=100.0,
        tasks=[task_record(f"t{n:02d}", "omics.c.large", when, 120) for n, when in enumerate(created)],
    )
    pages: list[dict[str, Any]] = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["limit"] = 10
        pages.append(dict(params))

    logs.meta.events.register("before-parameter-build.logs.GetLogEvents", small_pages)

    read = read_manifest(logs, RUN_ID, RUN_UUID)

    assert len(pages) == 4  # 26 events in pages of 10, then the token comes back unchanged
    assert all(p["startFromHead"] is True for p in pages) and "nextToken" not in pages[0]
    assert pages[0]["logStreamName"] == manifest_stream(RUN_ID, RUN_UUID)
    assert read == RunManifest(
        run_id=RUN_ID,
        storage_type="DYNAMIC",
        storage_capacity=4000,
        start=at(0),
        stop=at(120),
        storage_average_gib=100.0,
        tasks=tuple(
            Task(f"t{n:02d}", "COMPLETED", "omics.c.large", created[n], created[n] + datetime.timedelta(minutes=2), 120)
            for n in reversed(range(25))
        ),
    )


def test_a_manifest_not_written_yet_is_none(logs: Any) -> None:
    assert read_manifest(logs, RUN_ID, RUN_UUID) is None  # no log group at all
    put_manifest(logs, "7654321", RUN_UUID, start=at(0), stop=at(1))
    assert read_manifest(logs, RUN_ID, RUN_UUID) is None  # the group, not the stream
    assert read_manifest(logs, "7654321", "another-uuid") is None  # a reused id's other run
    put_records(logs, RUN_ID, RUN_UUID, [])
    assert read_manifest(logs, RUN_ID, RUN_UUID) is None  # the stream, no events yet


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("AccessDeniedException", 400, False),
        ("ThrottlingException", 400, True),
        ("ServiceUnavailableException", 503, True),
    ],
)
def test_other_log_errors_are_api_errors(code: str, status: int, transient: bool) -> None:
    client = boto3.client("logs", **CREDENTIALS)
    with Stubber(client) as stub:
        stub.add_client_error("get_log_events", code, "no", http_status_code=status)
        with pytest.raises(ApiError, match=f"^GetLogEvents failed: {code}: no$") as caught:
            read_manifest(client, RUN_ID, RUN_UUID)
    assert caught.value.transient is transient


def test_parsing_tolerates_missing_fields() -> None:
    records = [
        {"arn": f"arn:aws:omics:{REGION}:123456789012:run/{RUN_ID}", "metrics": "odd"},
        {"arn": f"arn:aws:omics:{REGION}:123456789012:task/1", "name": "bare"},
        {"arn": f"arn:aws:omics:{REGION}:123456789012:task/2", "startTime": "not a time", "metrics": {}},
        {
            "arn": f"arn:aws:omics:{REGION}:123456789012:task/3",
            "startTime": "2026-04-01T08:00:00Z",
            "stopTime": "2026-04-01T08:01:30.500Z",
        },
        {"arn": f"arn:aws:omics:{REGION}:123456789012:runCache/9"},  # another kind: skipped
        {"name": "no arn"},
    ]
    read = parse_manifest(map(json.dumps, records), RUN_ID)
    assert read == RunManifest(RUN_ID, "STATIC", None, None, None, None, read.tasks)
    assert read.tasks == (
        Task("", "", "", T0, at(1.5) + datetime.timedelta(seconds=0.5), 90.5),
        Task("bare", "", "", None, None, 0.0),
        Task("", "", "", None, None, 0.0),
    )
    assert read.instance_seconds == {} and read.run_seconds == 0


def test_a_time_without_a_zone_is_utc() -> None:
    record = run_record(RUN_ID, startTime="2026-04-01T08:00:00", stopTime="2026-04-01T10:00:00.000Z")
    assert parse_manifest([json.dumps(record)], RUN_ID).run_seconds == 7200


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([], "has no run record"),
        ([json.dumps(run_record("7654321"))], "has no run record"),
        ([json.dumps(task_record("a", "omics.c.large", T0, 60))], "has no run record"),
        ([json.dumps(run_record(RUN_ID)), "not json"], "record 2 is not JSON"),
        (["[1, 2]"], "record 1 is not a JSON object"),
    ],
)
def test_a_manifest_that_cannot_be_read_is_a_value_error(messages: list[str], problem: str) -> None:
    with pytest.raises(ValueError, match=f"manifest of run {RUN_ID}.*{problem}"):
        parse_manifest(messages, RUN_ID)


# --- the price book -----------------------------------------------------------------------


def test_each_resource_type_is_asked_once(book: PriceBook, price_list: PriceList) -> None:
    assert book.price("omics.c.large") == Decimal("0.1148")
    assert book.price("omics.c.large") == Decimal("0.1148")
    assert book.price(STATIC_STORAGE) == Decimal("0.0001918")
    assert book.price("omics.none") is None
    assert book.price("omics.none") is None
    assert book.asked == 3 and price_list.names() == ["GetProducts"] * 3
    assert price_list.calls[0][1] == {
        "ServiceCode": "AmazonOmics",
        "Filters": [
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": REGION},
            {"Type": "TERM_MATCH", "Field": "resourceType", "Value": "omics.c.large"},
        ],
        "MaxResults": 100,
    }
    assert book.to_json() == {STATIC_STORAGE: "0.0001918000", "omics.c.large": "0.1148000000", "omics.none": ""}


def test_prices_are_the_regions(pricing: Any, price_list: PriceList) -> None:
    price_list.add_product("omics.c.large", "0.1400", region="eu-west-1")
    assert PriceBook(pricing, "eu-west-1").price("omics.c.large") == Decimal("0.14")
    assert PriceBook(pricing, "ap-south-1").price("omics.c.large") is None


def test_pages_are_read_past_products_without_a_usd_price(pricing: Any) -> None:
    service = PriceList(defaults=False)
    for _ in range(100):
        service.add_product("omics.c.large", None)  # no On-Demand price
    service.add_product("omics.c.large", "0.5", currency="CNY")
    service.add_product("omics.c.large", "0.1148")
    service.add_product("omics.c.large", "0.9999")  # not read: the first priced one wins
    with service.serving(pricing):
        book = PriceBook(pricing, REGION)
        assert book.price("omics.c.large") == Decimal("0.1148")
    assert book.asked == 2 and service.calls[1][1]["NextToken"] == "100"


def test_a_zero_price_is_a_price(pricing: Any) -> None:
    service = PriceList(defaults=False)
    service.add_product("omics.c.large", "0")
    with service.serving(pricing):
        assert PriceBook(pricing, REGION).price("omics.c.large") == 0


def test_known_prices_are_not_asked(book: PriceBook, price_list: PriceList) -> None:
    book.price("omics.c.large")
    book.price("omics.none")
    again = PriceBook(book._pricing, REGION, known=book.to_json())
    assert again.price("omics.c.large") == Decimal("0.1148") and again.price("omics.none") is None
    assert again.asked == 0 and len(price_list.calls) == 2
    assert again.to_json() == book.to_json()


def test_a_known_price_must_be_a_number(pricing: Any) -> None:
    with pytest.raises(ValueError, match=r"known price of 'omics\.c\.large' is not a decimal number: 'abc'"):
        PriceBook(pricing, REGION, known={"omics.c.large": "abc"})


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400), ("InternalErrorException", 500)])
def test_throttling_and_5xx_are_retried(
    book: PriceBook, price_list: PriceList, backoff: list[float], code: str, status: int
) -> None:
    price_list.fail("GetProducts", code, status, times=2)
    assert book.price("omics.c.large") == Decimal("0.1148")
    assert price_list.names() == ["GetProducts"] * 3 and len(backoff) == 2
    assert book.asked == 1


def test_throttling_that_outlasts_the_retries_is_transient_and_not_kept(book: PriceBook, price_list: PriceList) -> None:
    price_list.fail("GetProducts", "ThrottlingException", times=ATTEMPTS, message="Rate exceeded")
    with pytest.raises(ApiError, match=r"^GetProducts failed: ThrottlingException: Rate exceeded$") as caught:
        book.price("omics.c.large")
    assert caught.value.transient
    assert book.to_json() == {}
    assert book.price("omics.c.large") == Decimal("0.1148")  # asked again


def test_access_denied_is_an_api_error_naming_the_operation(book: PriceBook, price_list: PriceList) -> None:
    price_list.fail(
        "GetProducts", "AccessDeniedException", 400, message="not authorized to perform pricing:GetProducts"
    )
    with pytest.raises(ApiError, match=r"^GetProducts failed: AccessDeniedException: not authorized") as caught:
        book.price("omics.c.large")
    assert not caught.value.transient and caught.value.operation == "GetProducts"
    assert price_list.names() == ["GetProducts"]  # not retried


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (Decimal("12.34565"), "12.3457"),
        (Decimal("12.34564999"), "12.3456"),
        (Decimal("0.00005"), "0.0001"),
        (Decimal("0.00004999"), "0.0000"),
        (Decimal(2), "2.0000"),
        (Decimal(0), "0.0000"),
    ],
)
def test_usd_rounds_half_up_to_four_decimals(value: Decimal | None, text: str) -> None:
    assert usd(value) == text


def test_total_is_unknown_if_either_part_is() -> None:
    assert RunCost(Decimal(1), Decimal("0.5")).total == Decimal("1.5")
    assert RunCost(None, Decimal(1), ("omics.c.large",)).total is None
    assert RunCost(Decimal(1), None, (STATIC_STORAGE,)).total is None
