"""Interop between micro-nats and nats-py (its `nats.micro` module and plain requests).

Run through `run.sh` beside this file, which builds the Rust side, makes a virtualenv with
nats-py and pytest, and points INTEROP_SERVER / INTEROP_CLIENT at the two example binaries.
Every test starts its own nats-server on a free loopback port.
"""

import asyncio
import json
import os
import re
import socket
import subprocess
import time

import nats
import pytest
import pytest_asyncio
from nats.micro import add_service
from nats.micro.service import EndpointConfig, ServiceError

SERVER_BIN = os.environ.get("INTEROP_SERVER", "")
CLIENT_BIN = os.environ.get("INTEROP_CLIENT", "")
NUID = re.compile(r"^[A-Za-z0-9]{22}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nats_url():
    port = free_port()
    proc = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError("nats-server did not start")
            time.sleep(0.02)
    yield f"nats://127.0.0.1:{port}"
    proc.kill()  # our own child only
    proc.wait()


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
async def rust_service(nats_url, nc):
    """The Rust interop_server, running until the test ends; yields its instance id."""
    assert SERVER_BIN, "set INTEROP_SERVER (run.sh does)"
    proc = subprocess.Popen(
        [SERVER_BIN], env={**os.environ, "MICRO_NATS_URL": nats_url}
    )
    deadline = time.time() + 20
    pings = []
    while not pings:
        assert proc.poll() is None, "interop_server exited"
        assert time.time() < deadline, "interop_server never answered $SRV.PING"
        pings = await gather(nc, "$SRV.PING.interop", wait=0.2)
    yield pings[0]["id"]
    proc.terminate()
    assert proc.wait(timeout=10) == 0, "graceful stop on SIGTERM"


@pytest.mark.asyncio
async def test_discovers_the_rust_service_via_srv(nc, rust_service):
    sid = rust_service
    assert NUID.match(sid)
    for subject in ["$SRV.PING", "$SRV.PING.interop", f"$SRV.PING.interop.{sid}"]:
        replies = await gather(nc, subject)
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
    reply = await nc.request("interop.add", b'{"a": 2, "b": 40}', timeout=2)
    assert json.loads(reply.data) == 42
    assert reply.headers.get("Content-Type") == "application/json"
    assert not reply.headers.get("Nats-Service-Error")

    err = await nc.request("interop.check", b'{"fail": true}', timeout=2)
    assert err.headers["Nats-Service-Error"] == "bad input"
    assert err.headers["Nats-Service-Error-Code"] == "422"
    assert json.loads(err.data) == {
        "id": "interop.check",
        "code": 422,
        "detail": "bad input",
        "status": "Unprocessable Entity",
    }

    stats = json.loads((await nc.request(f"$SRV.STATS.interop.{sid}", b"", timeout=2)).data)
    assert stats["type"] == "io.nats.micro.v1.stats_response"
    assert stats["metadata"] == {"lang": "rust"}
    assert RFC3339_UTC.match(stats["started"]), stats["started"]
    add, check = stats["endpoints"]
    assert (add["name"], add["num_requests"], add["num_errors"], add["last_error"]) == (
        "add", 1, 0, "")
    assert (check["num_requests"], check["num_errors"], check["last_error"]) == (
        1, 1, "422:bad input")
    for e in stats["endpoints"]:
        assert isinstance(e["processing_time"], int) and e["processing_time"] > 0
        assert e["average_processing_time"] == e["processing_time"] // e["num_requests"]


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
async def test_our_generated_client_calls_a_nats_micro_service(nats_url, nc):
    assert CLIENT_BIN, "set INTEROP_CLIENT (run.sh does)"

    async def echo(req):
        await req.respond(req.data)

    async def add(req):
        args = json.loads(req.data)
        await req.respond(json.dumps(args["a"] + args["b"]).encode())

    async def fail(req):
        raise ServiceError("422", "bad input")

    async def boom(req):
        raise RuntimeError("kaboom")

    svc = await add_service(nc, name="pyecho", version="1.0.0", description="nats-py echo")
    for name, handler in [("echo", echo), ("add", add), ("fail", fail), ("boom", boom)]:
        await svc.add_endpoint(EndpointConfig(name=name, subject=f"pyecho.{name}", handler=handler))
    proc = await asyncio.create_subprocess_exec(
        CLIENT_BIN,
        env={**os.environ, "MICRO_NATS_URL": nats_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    await svc.stop()
    text = out.decode()
    print(text)
    assert proc.returncode == 0, text
    assert "all checks passed" in text


@pytest.mark.asyncio
async def test_no_server_exits_non_zero_with_a_clear_message():
    assert SERVER_BIN, "set INTEROP_SERVER (run.sh does)"
    url = f"nats://127.0.0.1:{free_port()}"
    started = time.time()
    done = subprocess.run(
        [SERVER_BIN],
        env={**os.environ, "MICRO_NATS_URL": url},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode != 0
    assert url in done.stderr
    assert "nats-server -a 127.0.0.1 -p 4222" in done.stderr
    assert time.time() - started < 10
