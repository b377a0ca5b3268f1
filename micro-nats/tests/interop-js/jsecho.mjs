// A service written with the JavaScript reference implementation (@nats-io/services), for
// micro's toolkit to list, describe and call. Run by the interop tests as
// `node jsecho.mjs <nats-url>`: prints `ready <id>` once it serves, stops when stdin closes.
import { connect } from "@nats-io/transport-node";
import { ServiceError, Svcm } from "@nats-io/services";

const url = process.argv[2];
const nc = await connect({ servers: url });
const service = await new Svcm(nc).add({
  name: "jsecho",
  version: "2.0.0",
  description: "Echoes and adds, in JavaScript.",
  metadata: { lang: "javascript" },
});

// ADR-32's default subject: the endpoint's name.
service.addEndpoint("echo", {
  metadata: { format: "json" },
  handler: (err, msg) => {
    msg.respond(msg.data);
  },
});
// Endpoints in a group: subjects `jsmath.add`, `jsmath.fail`, not `<service>.<endpoint>`.
const math = service.addGroup("jsmath");
math.addEndpoint("add", (err, msg) => {
  const { a, b } = msg.json();
  msg.respond(JSON.stringify(a + b));
});
math.addEndpoint("fail", (err, msg) => {
  msg.respondError(422, "bad input");
});
// A thrown ServiceError: the library sends its code and message as the headers.
math.addEndpoint("throws", () => {
  throw new ServiceError(409, "conflict here");
});

// An endpoint on `<service>.<endpoint>` (`jsecho.hello`), the subject micro's generated
// clients call; it refuses an empty name with a 422 sent as headers only, as this library does.
service.addGroup("jsecho").addEndpoint("hello", (err, msg) => {
  const { name } = msg.json();
  if (!name) {
    msg.respondError(422, "name must not be empty");
    return;
  }
  msg.respond(JSON.stringify(`Hello ${name}`));
});

await nc.flush();
console.log(`ready ${service.info().id}`);

process.stdin.resume();
process.stdin.on("end", async () => {
  await service.stop();
  await nc.close();
  process.exit(0);
});
