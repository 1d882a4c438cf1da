// Publishes one event over gRPC from the .proto, with @grpc/grpc-js and
// @grpc/proto-loader (npm install @grpc/grpc-js @grpc/proto-loader).
//
//   TAILGATE_GRPC=127.0.0.1:50051 TAILGATE_PROTO_ROOT=proto node publish_grpc.mjs orders.42 '{"n":1}'
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const [topic, data] = process.argv.slice(2);
const definition = protoLoader.loadSync("tailgate/v1/publisher.proto", {
  includeDirs: [process.env.TAILGATE_PROTO_ROOT ?? "proto"],
  keepCase: true, defaults: true, longs: String, // ids are uint64: exact as strings
});
const { Publisher } = grpc.loadPackageDefinition(definition).tailgate.v1;
const client = new Publisher(process.env.TAILGATE_GRPC ?? "127.0.0.1:50051", grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
if (process.env.TAILGATE_TOKEN) metadata.set("authorization", `Bearer ${process.env.TAILGATE_TOKEN}`);
client.Publish({ topic, type: "created", data, idempotency_key: `${topic}-created` }, metadata,
  { deadline: Date.now() + 10000 }, (err, res) => {
    if (err) { console.error(grpc.status[err.code], err.details); process.exitCode = 1; }
    else console.log(JSON.stringify(res));  // {"id":"17","duplicate":false}
    client.close();
  });
