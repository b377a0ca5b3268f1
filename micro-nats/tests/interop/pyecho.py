"""A nats-py `nats.micro` service for the Rust side of the interop test to call.

    python pyecho.py nats://127.0.0.1:4222

Prints `ready <id>` once it serves, then runs until stdin closes or it is killed.
Endpoints: echo (echoes the request), add ({"a","b"} -> a+b), fail (ServiceError 422),
boom (RuntimeError -> 500), all in queue group `q` under subject `pyecho.<name>`.
"""

import asyncio
import json
import sys

import nats
from nats.micro import add_service
from nats.micro.service import EndpointConfig, ServiceError


async def echo(req):
    await req.respond(req.data, headers={"X-Echo": "1"})


async def add(req):
    args = json.loads(req.data)
    await req.respond(json.dumps(args["a"] + args["b"]).encode())


async def fail(req):
    raise ServiceError("422", "bad input")


async def boom(req):
    raise RuntimeError("kaboom")


async def main(url):
    nc = await nats.connect(url)
    svc = await add_service(
        nc, name="pyecho", version="1.0.0", metadata={"lang": "python"}
    )
    for name, handler in [("echo", echo), ("add", add), ("fail", fail), ("boom", boom)]:
        await svc.add_endpoint(
            EndpointConfig(name=name, subject=f"pyecho.{name}", handler=handler)
        )
    await nc.flush()
    print(f"ready {svc.info().id}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await svc.stop()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
