"""A stand-in for the Price List Query API's GetProducts, behind a real botocore ``pricing`` client.

It holds AmazonOmics products as the API documents them: each ``PriceList`` item is one product
as JSON text, with ``product.attributes`` (``resourceType``, ``regionCode``, ``servicecode``, ...),
``serviceCode``, and ``terms.OnDemand.<sku.term>.priceDimensions.<sku.term.dim>`` holding
``unit`` and ``pricePerUnit.USD``. It applies GetProducts' TERM_MATCH filters and pages with
``MaxResults`` and ``NextToken``.

Unlike ``tests/standin/healthomics.py`` it answers one step later than ``before-call``, in
``before-send``, with an HTTP response: a ``before-call`` answer skips botocore's retry handler,
and the throttles and 5xx this stand-in can inject (``fail``) must meet botocore's own
standard-mode retries, as they would from the service. The request has still been through
botocore's parameter validation and serializer; every answer is checked against the model's
output shape and read by the client's own JSON parser. The prices of ``DEFAULT_PRICES`` are
invented but of the right size, except the two run storage prices, which are the published
us-east-1 ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.validate import validate_parameters

from tests.standin.healthomics import ServiceError

REGION = "us-east-1"
SERVICE_CODE = "AmazonOmics"
INSTANCE_UNIT = "Instance-hrs"
STORAGE_UNIT = "GB-Hours"
STORAGE_TYPES = ("Run Storage", "Dynamic Run Storage")
# Hourly USD prices by resourceType: instance types invented, run storage as published for us-east-1.
DEFAULT_PRICES: Mapping[str, str] = {
    "omics.c.large": "0.1148",
    "omics.c.xlarge": "0.2296",
    "omics.m.xlarge": "0.2592",
    "omics.m.2xlarge": "0.5184",
    "omics.r.2xlarge": "0.6384",
    "omics.g5.xlarge": "1.2576",
    "Run Storage": "0.0001918",
    "Dynamic Run Storage": "0.0004110",
}
# The first On-Demand offer term code of the Price List (the same for every product).
ON_DEMAND_TERM = "JRTCKXETXF"
RATE_CODE = "6YS6EN2CT7"


class PriceList:
    """The stand-in's products and its answers. ``calls`` keeps each request (operation, params),
    retried attempts included; ``fail`` makes the next calls answer an error instead."""

    def __init__(self, *, defaults: bool = True) -> None:
        self.products: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.faults: dict[str, list[ServiceError]] = {}
        if defaults:
            self.add_defaults(REGION)

    # --- what the test does ---------------------------------------------------------------

    def add_product(
        self,
        resource_type: str,
        usd: str | None,
        *,
        region: str = REGION,
        unit: str | None = None,
        currency: str = "USD",
        **attributes: str,
    ) -> dict[str, Any]:
        """Add one product and return it: ``usd`` its hourly price as text, or None for a product
        with no On-Demand price (``currency`` other than USD gives one in that currency instead)."""
        sku = uuid.uuid4().hex[:16].upper()
        term = f"{sku}.{ON_DEMAND_TERM}"
        unit = unit or (STORAGE_UNIT if resource_type in STORAGE_TYPES else INSTANCE_UNIT)
        on_demand: dict[str, Any] = {}
        if usd is not None:
            dimension = {
                "unit": unit,
                "endRange": "Inf",
                "description": f"${usd} per {unit} for {resource_type} in {region}",
                "appliesTo": [],
                "rateCode": f"{term}.{RATE_CODE}",
                "beginRange": "0",
                "pricePerUnit": {currency: f"{float(usd):.10f}"},
            }
            on_demand[term] = {
                "priceDimensions": {dimension["rateCode"]: dimension},
                "sku": sku,
                "effectiveDate": "2026-03-01T00:00:00Z",
                "offerTermCode": ON_DEMAND_TERM,
                "termAttributes": {},
            }
        product = {
            "product": {
                "productFamily": "Compute",
                "attributes": {
                    "regionCode": region,
                    "servicecode": SERVICE_CODE,
                    "servicename": "AWS HealthOmics",
                    "resourceType": resource_type,
                    "workflowType": "Private",
                    "locationType": "AWS Region",
                    **attributes,
                },
                "sku": sku,
            },
            "serviceCode": SERVICE_CODE,
            "terms": {"OnDemand": on_demand},
            "version": "20260301000000",
            "publicationDate": "2026-03-01T00:00:00Z",
        }
        self.products.append(product)
        return product

    def add_defaults(self, region: str = REGION, prices: Mapping[str, str] = DEFAULT_PRICES) -> None:
        """One product for each of ``prices`` in ``region``."""
        for resource_type, usd in prices.items():
            self.add_product(resource_type, usd, region=region)

    def fail(self, operation: str, code: str, status: int = 400, *, times: int = 1, message: str = "") -> None:
        """The next ``times`` attempts of ``operation`` answer ``code`` (HTTP ``status``): a
        ThrottlingException (400), an InternalErrorException (500), an AccessDeniedException."""
        error = ServiceError(code, message or f"{code} (the stand-in's fault)", status)
        self.faults.setdefault(operation, []).extend([error] * times)

    def names(self) -> list[str]:
        """The operations called, in order, every attempt counted."""
        return [name for name, _ in self.calls]

    # --- the operation ------------------------------------------------------------------------

    def GetProducts(self, params: dict[str, Any]) -> dict[str, Any]:
        matches = [
            product
            for product in self.products
            if product["serviceCode"] == params.get("ServiceCode")
            and all(_term_match(product, entry) for entry in params.get("Filters", []))
        ]
        try:
            start = int(params.get("NextToken") or 0)
        except ValueError:
            raise ServiceError("InvalidNextTokenException", "The pagination token is invalid.") from None
        size = int(params.get("MaxResults") or 100)
        answer: dict[str, Any] = {
            "FormatVersion": params.get("FormatVersion", "aws_v1"),
            "PriceList": [json.dumps(product) for product in matches[start : start + size]],
        }
        if start + size < len(matches):
            answer["NextToken"] = str(start + size)
        return answer

    # --- botocore ----------------------------------------------------------------------------

    @contextmanager
    def serving(self, client: Any) -> Iterator[PriceList]:
        """Answer ``client``'s pricing calls from this stand-in while the block runs."""
        ident = f"pricing-standin-{id(self)}-{id(client)}"
        model = client.meta.service_model
        client.meta.events.register_first(
            "before-send.pricing", lambda request, **_: self._answer(model, request), unique_id=ident
        )
        try:
            yield self
        finally:
            client.meta.events.unregister("before-send.pricing", unique_id=ident)

    def _answer(self, model: Any, request: Any) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        target = target.decode() if isinstance(target, bytes) else target
        prefix, _, name = target.partition(".")
        assert prefix == model.metadata["targetPrefix"], target
        operation_model = model.operation_model(name)
        params = json.loads(request.body or b"{}")
        self.calls.append((name, params))
        operation = getattr(self, name, None)
        assert operation is not None, f"the stand-in has no {name}"
        headers = {"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": str(uuid.uuid4())}
        try:
            faults = self.faults.get(name)
            if faults:
                raise faults.pop(0)
            answer = operation(params)
        except ServiceError as err:
            body = {"__type": err.code, "Message": err.message}
            return AWSResponse(request.url, err.status, headers, _Body(json.dumps(body).encode()))
        validate_parameters(answer, operation_model.output_shape)
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(answer).encode()))


def _term_match(product: Mapping[str, Any], entry: Mapping[str, str]) -> bool:
    """Whether ``product`` has the filter's field (an attribute, or productFamily) at its value."""
    assert entry["Type"] == "TERM_MATCH", f"the stand-in filters by TERM_MATCH only, not {entry['Type']}"
    fields = {"productFamily": product["product"]["productFamily"], **product["product"]["attributes"]}
    return fields.get(entry["Field"]) == entry["Value"]


class _Body:
    """The raw HTTP body botocore reads an AWSResponse from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def pricing_client(*, attempts: int = 3) -> Any:
    """A real Price List client (its endpoint in us-east-1, botocore's standard retries, ``attempts``
    in all) that never reaches the network once a stand-in serves it."""
    return boto3.client(
        "pricing",
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
