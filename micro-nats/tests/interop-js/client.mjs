// The JavaScript reference implementation's service client (@nats-io/services) against a
// micro service: ping, info and stats, plus a plain request and an error reply read with its
// ServiceError. Run by micro-nats/tests/interop_js.rs as `node client.mjs <nats-url> <service>`;
// calls the service's `add` and `check` endpoints and prints one JSON object with what it found,
// which the Rust test checks field by field. Shape checks that need no knowledge of the service
// are here.
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { ServiceError, ServiceResponseType, Svcm } from "@nats-io/services";

const [url, name] = process.argv.slice(2);
const nc = await connect({ servers: url });
// The client waits up to maxWait for the first reply, then until replies stall.
const client = new Svcm(nc).client({ strategy: "stall", maxWait: 5000 });

async function all(iter) {
  const out = [];
  for await (const item of await iter) {
    out.push(item);
  }
  return out;
}

// Every service (the listing), then this one by name.
const everyone = await all(client.ping());
const pings = await all(client.ping(name));
for (const p of pings) {
  assert.equal(p.type, ServiceResponseType.PING);
}
const infos = await all(client.info(name));
for (const i of infos) {
  assert.equal(i.type, ServiceResponseType.INFO);
  assert.equal(typeof i.description, "string");
  for (const e of i.endpoints) {
    assert.equal(typeof e.subject, "string");
  }
}
const id = pings[0]?.id;
// One instance, by name and id.
const byId = await all(client.info(name, id));

// A call as any NATS client makes it: plain JSON, no headers.
const add = await nc.request(`${name}.add`, JSON.stringify({ a: 40, b: 2 }), { timeout: 5000 });
const sum = add.json();
assert.equal(ServiceError.isServiceError(add), false);
// An error reply, read with the reference implementation's own helper.
const check = await nc.request(`${name}.check`, JSON.stringify({ fail: true }), { timeout: 5000 });
assert.equal(ServiceError.isServiceError(check), true);
const err = ServiceError.toServiceError(check);

const stats = await all(client.stats(name));
for (const s of stats) {
  assert.equal(s.type, ServiceResponseType.STATS);
  assert.ok(!Number.isNaN(Date.parse(s.started)), `started ${s.started} parses as a date`);
  for (const e of s.endpoints) {
    assert.equal(typeof e.num_requests, "number");
    assert.equal(typeof e.processing_time, "number");
    assert.equal(typeof e.average_processing_time, "number");
  }
}
console.log(JSON.stringify({
  everyone,
  pings,
  infos,
  by_id: byId,
  stats,
  sum,
  error: { code: err.code, message: err.message },
  started_ms: stats.map((s) => Date.parse(s.started)),
}));
await nc.close();
