"""nats-py (its `nats.micro` module and plain requests) against a micro service on NATS.

Driven by `micro-nats/tests/interop.rs`, which starts a private nats-server, serves the Rust
`interop` service on it and runs this file with NATS_URL set, in the virtualenv named by
MICRO_INTEROP_PYTHON (scripts/test.sh makes it from requirements.txt).
"""

import json
import os
import re

import nats
import pytest
import pytest_asyncio
from nats.micro import add_service
from nats.micro.service import EndpointConfig, ServiceStats

NUID = re.compile(r"^[A-Za-z0-9]{22}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def nats_url():
    """The private nats-server the Rust test started."""
    url = os.environ.get("NATS_URL")
    assert url, "run through `cargo test -p micro-nats --test interop`"
    return url


@pytest_asyncio.fixture
async def nc(nats_url):
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


async def gather(nc, subject, wait=0.3):
    """Scatter-gather: every reply to `subject` within `wait` seconds."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, b"", reply=inbox)
    replies = []
    try:
        while True:
            msg = await sub.next_msg(timeout=wait)
            if msg.headers and msg.headers.get("Status") == "503":
                break
            replies.append(json.loads(msg.data))
    except nats.errors.TimeoutError:
        pass
    await sub.unsubscribe()
    return replies


@pytest_asyncio.fixture
async def rust_service(nc):
    """The Rust `interop` service the Rust test serves; yields its instance id."""
    pings = await gather(nc, "$SRV.PING.interop")
    assert len(pings) == 1, pings
    return pings[0]["id"]


@pytest.mark.asyncio
async def test_discovers_the_rust_service_via_srv(nc, rust_service):
    sid = rust_service
    assert NUID.match(sid)
    for subject in ["$SRV.PING", "$SRV.PING.interop", f"$SRV.PING.interop.{sid}"]:
        # The Rust test serves `counting` too, which answers the bare `$SRV.PING`.
        replies = [r for r in await gather(nc, subject) if r["name"] == "interop"]
        assert len(replies) == 1, subject
        assert replies[0] == {
            "type": "io.nats.micro.v1.ping_response",
            "name": "interop",
            "id": sid,
            "version": "1.2.3",
            "metadata": {"lang": "rust"},
        }

    info = json.loads((await nc.request("$SRV.INFO.interop", b"{}", timeout=2)).data)
    assert info["type"] == "io.nats.micro.v1.info_response"
    assert (info["name"], info["id"], info["version"]) == ("interop", sid, "1.2.3")
    assert info["description"] == "Arithmetic and checks, for interop tests."
    assert info["metadata"] == {"lang": "rust"}
    assert [e["name"] for e in info["endpoints"]] == ["add", "check"]
    add = info["endpoints"][0]
    assert add["subject"] == "interop.add"
    assert add["queue_group"] == "q"
    assert add["metadata"]["doc"] == "Adds two numbers."
    assert json.loads(add["metadata"]["request"]) == {"a": "i64", "b": "i64"}
    assert add["metadata"]["response"] == "i64"

    # Calls with plain JSON, one of them an error, then STATS counts them.
    stats_subject = f"$SRV.STATS.interop.{sid}"
    before = json.loads((await nc.request(stats_subject, b"", timeout=2)).data)["endpoints"]
    reply = await nc.request("interop.add", b'{"a": 2, "b": 40}', timeout=2)
    assert json.loads(reply.data) == 42
    # A plain JSON request gets a plain JSON reply, without headers.
    assert not (reply.headers or {}).get("Nats-Service-Error")
    labelled = await nc.request(
        "interop.add", b'{"a": 1, "b": 2}', timeout=2, headers={"Content-Type": "application/json"}
    )
    assert json.loads(labelled.data) == 3
    assert labelled.headers.get("Content-Type") == "application/json"

    err = await nc.request("interop.check", b'{"fail": true}', timeout=2)
    assert err.headers["Nats-Service-Error"] == "bad input"
    assert err.headers["Nats-Service-Error-Code"] == "422"
    assert json.loads(err.data) == {
        "id": "interop.check",
        "code": 422,
        "detail": "bad input",
        "status": "Unprocessable Entity",
    }

    stats = json.loads((await nc.request(stats_subject, b"", timeout=2)).data)
    assert stats["type"] == "io.nats.micro.v1.stats_response"
    assert stats["metadata"] == {"lang": "rust"}
    assert RFC3339_UTC.match(stats["started"]), stats["started"]
    add, check = stats["endpoints"]
    assert add["name"] == "add"
    assert add["num_requests"] == before[0]["num_requests"] + 2  # plain and labelled
    assert add["num_errors"] == before[0]["num_errors"]
    assert check["num_requests"] == before[1]["num_requests"] + 1
    assert check["num_errors"] == before[1]["num_errors"] + 1
    assert check["last_error"] == "422:bad input"
    for e in stats["endpoints"]:
        assert isinstance(e["processing_time"], int) and e["processing_time"] > 0
        assert e["average_processing_time"] == e["processing_time"] // e["num_requests"]
    # nats-py's own parser reads it (it takes at most six fraction digits and needs `data`).
    parsed = ServiceStats.from_dict(stats)
    assert parsed.name == "interop"
    assert [e.name for e in parsed.endpoints] == ["add", "check"]


@pytest.mark.asyncio
async def test_nats_micro_and_rust_instances_share_a_queue_group(nc, rust_service):
    # A nats-py service serving the same subject in the same queue group shares the load.
    seen = []

    async def add(req):
        seen.append(1)
        args = json.loads(req.data)
        await req.respond(json.dumps(args["a"] + args["b"]).encode())

    svc = await add_service(nc, name="pyadd", version="1.0.0")
    await svc.add_endpoint(EndpointConfig(name="add", subject="interop.add", handler=add))
    results = [
        json.loads((await nc.request("interop.add", b'{"a":1,"b":1}', timeout=2)).data)
        for _ in range(40)
    ]
    await svc.stop()
    assert results == [2] * 40
    assert 0 < len(seen) < 40, "both the Python and the Rust instance answered"


@pytest.mark.asyncio
async def test_info_schemas_are_valid_json_schema_2020_12(nc, rust_service):
    """Another language's validator reads our schemas: each is a valid 2020-12 document, real
    calls and replies validate against them, and a wrong body does not."""
    from jsonschema import Draft202012Validator

    info = json.loads((await nc.request("$SRV.INFO.interop", b"", timeout=2)).data)
    schemas = {}
    for e in info["endpoints"]:
        for key in ("request_schema", "response_schema"):
            schema = json.loads(e["metadata"][key])
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            Draft202012Validator.check_schema(schema)
            schemas[(e["name"], key)] = Draft202012Validator(schema)

    request = {"a": 2, "b": 40}
    schemas[("add", "request_schema")].validate(request)
    reply = json.loads((await nc.request("interop.add", json.dumps(request).encode(), timeout=2)).data)
    schemas[("add", "response_schema")].validate(reply)
    for wrong in ({"a": "two", "b": 40}, {"a": 2}, {"a": 1.5, "b": 1}):
        assert not schemas[("add", "request_schema")].is_valid(wrong), wrong
    assert not schemas[("add", "response_schema")].is_valid("42")

    schemas[("check", "request_schema")].validate({"fail": False})
    assert not schemas[("check", "request_schema")].is_valid({"fail": "no"})
    ok = json.loads((await nc.request("interop.check", b'{"fail": false}', timeout=2)).data)
    schemas[("check", "response_schema")].validate(ok)


async def read_request_many(nc, subject, payload, timeout=5):
    """A request-many exchange as any NATS client can make one: replies to one inbox until the
    empty message that ends them."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, payload, reply=inbox)
    replies = []
    while True:
        msg = await sub.next_msg(timeout=timeout)
        replies.append(msg)
        if not msg.data:
            break
    await sub.unsubscribe()
    return replies


@pytest.mark.asyncio
async def test_a_plain_client_reads_a_server_stream_request_many_style(nc, rust_service):
    """No stream protocol needed to read a server stream: the items, numbered, then the empty
    end marker with the count; an error is an ordinary error reply."""
    replies = await read_request_many(nc, "counting.count", b'{"n": 5}')
    *items, end = replies
    assert [json.loads(m.data) for m in items] == [1, 2, 3, 4, 5]
    assert [m.headers["Micro-Seq"] for m in items] == ["1", "2", "3", "4", "5"]
    assert end.headers["Micro-Stream"] == "end"
    assert end.headers["Micro-Seq"] == "5"

    empty = await read_request_many(nc, "counting.count", b'{"n": 0}')
    assert len(empty) == 1 and empty[0].headers["Micro-Seq"] == "0"

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish("counting.count", b'{"n": -1}', reply=inbox)
    err = await sub.next_msg(timeout=5)
    assert err.headers["Nats-Service-Error-Code"] == "400"
    assert json.loads(err.data)["detail"] == "n must not be negative"

    info = json.loads((await nc.request("$SRV.INFO.counting", b"", timeout=2)).data)
    assert info["endpoints"][0]["metadata"]["kind"] == "server_stream"
