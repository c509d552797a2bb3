// Writes relay/schema.graphql, the router's API schema, for relay-compiler: an introspection
// query against a running dev stack (introspection is on there). `npm run schema`.

import { writeFileSync } from "node:fs";
import { buildClientSchema, getIntrospectionQuery, printSchema } from "graphql";

const url = process.env.ROUTER_URL ?? "http://127.0.0.1:4000/graphql";
const response = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", accept: "application/json" },
  body: JSON.stringify({ query: getIntrospectionQuery() }),
});
const result = await response.json();
if (!result.data) throw new Error(`introspection failed: ${JSON.stringify(result.errors ?? result)}`);
const target = new URL("./schema.graphql", import.meta.url);
writeFileSync(target, `${printSchema(buildClientSchema(result.data))}\n`);
console.log(`wrote ${target.pathname}`);
