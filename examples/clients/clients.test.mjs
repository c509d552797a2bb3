// The client examples against a running router (ROUTER_URL, default the dev stack's
// http://127.0.0.1:4000/graphql): `node --test` here, or `bash examples/clients/run.sh` from
// the repository root, which starts the stack first.
//
// Every test registers its own users through the router, so the tests are independent of
// each other and of what the database held before.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as apollo from "./apollo.mjs";
import { Inbox, ROUTER_URL, WS_URL, post, pair, register, sendUntilReceived } from "./fixtures.mjs";
import * as sse from "./graphql-sse.mjs";
import * as gqlws from "./graphql-ws.mjs";
import * as relay from "./relay.mjs";
import * as urql from "./urql.mjs";

/** A router that loaded persisted-documents.json as trusted documents (run.sh starts one). */
const PERSISTED_ROUTER_URL = process.env.PERSISTED_ROUTER_URL;

const TEST = { timeout: 60_000 };

/** A fetch that records what each request sent and what came back (the answer is untouched). */
function recordingFetch() {
  const calls = [];
  const recorder = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url;
    const headers = new Headers(init.headers);
    const response = await fetch(input, init);
    const contentType = response.headers.get("content-type") ?? "";
    // JSON answers are read from a copy; streams (SSE, multipart) are left alone.
    const body = /json/.test(contentType) ? await response.clone().json().catch(() => undefined) : undefined;
    calls.push({ url: new URL(url), method: init.method ?? "GET", headers, requestBody: init.body, status: response.status, contentType, body });
    return response;
  };
  recorder.calls = calls;
  return recorder;
}

const JSON_TYPES = /^application\/(graphql-response\+json|json)\b/;

/** A subscription event is one of the messages sent, complete with the sender's name. */
function assertMessageEvent(event, sent, { conversationId, sender }) {
  const message = sent.get(event?.id);
  assert.ok(message, `the event is a message that was sent: ${JSON.stringify(event)}`);
  assert.equal(event.content, message.content);
  assert.equal(event.conversationId, conversationId);
  assert.equal(event.sender.id, sender.id);
  assert.equal(event.sender.profile.firstName, sender.firstName, "the sender's name, resolved from identity");
}

/** A student and a tutor in a conversation; `listen` opens the tutor's side. */
async function chat(listen) {
  const { student, tutor, conversationId } = await pair();
  const inbox = new Inbox();
  const opened = await listen({ tutor, conversationId, onMessage: inbox.push, onError: inbox.fail });
  try {
    assert.equal(opened.me.id, tutor.id, "me is the tutor");
    assert.equal(opened.me.email, tutor.email);
    const { event, sent } = await sendUntilReceived(inbox, student, conversationId);
    assertMessageEvent(event, sent, { conversationId, sender: student });
    return opened;
  } finally {
    opened.stop();
  }
}

describe("the router's edge, as the page describes it (plain fetch)", () => {
  it("refuses a GET without a CSRF header, runs it with apollo-require-preflight", TEST, async () => {
    const url = `${ROUTER_URL}?query=${encodeURIComponent("{ __typename }")}`;
    const refused = await fetch(url, { headers: { accept: "application/json" } });
    assert.equal(refused.status, 400);
    const body = await refused.json();
    assert.equal(body.errors[0].extensions.code, "CSRF_PREVENTED");
    assert.match(body.errors[0].message, /apollo-require-preflight/);

    const allowed = await fetch(url, { headers: { accept: "application/json", "apollo-require-preflight": "true" } });
    assert.equal(allowed.status, 200);
    assert.deepEqual(await allowed.json(), { data: { __typename: "Query" } });
  });

  it("lets a JSON POST through without a CSRF header, refuses text/plain", TEST, async () => {
    const json = await post("{ __typename }");
    assert.equal(json.status, 200);
    assert.deepEqual(json.body, { data: { __typename: "Query" } });

    const plain = await fetch(ROUTER_URL, {
      method: "POST",
      headers: { "content-type": "text/plain", accept: "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    assert.equal(plain.status, 400);
    assert.equal((await plain.json()).errors[0].extensions.code, "CSRF_PREVENTED");
  });

  it("answers me only with a valid bearer token", TEST, async () => {
    const user = await register("STUDENT", "Ann");
    const signedIn = await post("{ me { id } }", {}, { token: user.token });
    assert.deepEqual(signedIn.body, { data: { me: { id: user.id } } });

    const anonymous = await post("{ me { id } }");
    assert.equal(anonymous.status, 200);
    assert.equal(anonymous.body.data.me, null);
    assert.deepEqual(anonymous.body.errors.map((e) => [e.path, e.extensions.code]), [[["me"], "UNAUTHENTICATED"]]);

    const forged = await post("{ me { id } }", {}, { token: `${user.token.slice(0, -4)}AAAA` });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.errors[0].extensions.code, "UNAUTHENTICATED");
  });
});

describe("Apollo Client 4", () => {
  it("queries me over HttpLink with the token, the CSRF header and client awareness", TEST, async () => {
    const user = await register("STUDENT", "Ann");
    const fetch = recordingFetch();
    const client = apollo.createApolloClient({ url: ROUTER_URL, getToken: () => user.token, fetch });
    try {
      const me = await apollo.fetchMe(client);
      assert.equal(me.id, user.id);
      assert.equal(me.email, user.email);
      assert.equal(me.role, "STUDENT");
      assert.equal(me.profile.firstName, "Ann");

      assert.equal(fetch.calls.length, 1);
      const [call] = fetch.calls;
      assert.equal(call.method, "POST");
      assert.equal(call.headers.get("authorization"), `Bearer ${user.token}`);
      assert.equal(call.headers.get("apollo-require-preflight"), "true");
      assert.equal(call.headers.get("apollographql-client-name"), "edustream-web");
      assert.equal(call.headers.get("apollographql-client-version"), "1.4.2");
      assert.equal(call.status, 200);
      assert.match(call.contentType, JSON_TYPES);
    } finally {
      client.stop();
    }
  });

  it("sends automatic persisted queries as GET with the hash alone once the router knows them", TEST, async () => {
    const user = await register("STUDENT", "Ann");
    const hashOnly = (call) =>
      call.method === "GET" &&
      !call.url.searchParams.has("query") &&
      /"sha256Hash":"[0-9a-f]{64}"/.test(call.url.searchParams.get("extensions") ?? "");

    // The first client registers the query if the router does not know it yet.
    const first = recordingFetch();
    const a = apollo.createApolloClient({ url: ROUTER_URL, getToken: () => user.token, persistedQueries: true, fetch: first });
    try {
      assert.equal((await apollo.fetchMe(a)).id, user.id);
    } finally {
      a.stop();
    }
    assert.ok(hashOnly(first.calls[0]), `first a GET with the hash only: ${first.calls[0].url}`);
    assert.equal(first.calls[0].headers.get("apollo-require-preflight"), "true");
    if (first.calls.length > 1) {
      assert.equal(first.calls[0].body.errors[0].extensions.code, "PERSISTED_QUERY_NOT_FOUND");
      assert.equal(first.calls[1].method, "POST", "then the text, by POST");
      assert.match(first.calls[1].requestBody, /"query":"query Me/);
    }

    // Any client now gets it with the hash alone, as a GET (cacheable by a CDN).
    const second = recordingFetch();
    const b = apollo.createApolloClient({ url: ROUTER_URL, getToken: () => user.token, persistedQueries: true, fetch: second });
    try {
      const me = await apollo.fetchMe(b);
      assert.equal(me.email, user.email);
    } finally {
      b.stop();
    }
    assert.equal(second.calls.length, 1, "one request");
    assert.ok(hashOnly(second.calls[0]), `a GET with the hash only: ${second.calls[0].url}`);
    assert.equal(second.calls[0].status, 200);
  });

  it("receives messageAdded through GraphQLWsLink (graphql-ws)", TEST, async () => {
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      apollo.openConversation({ url: ROUTER_URL, token: tutor.token, conversationId, subscriptions: "ws", onMessage, onError }),
    );
  });

  it("receives messageAdded through HttpLink's multipart subscriptions", TEST, async () => {
    const fetch = recordingFetch();
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      apollo.openConversation({ url: ROUTER_URL, token: tutor.token, conversationId, subscriptions: "http", onMessage, onError, fetch }),
    );
    const subscription = fetch.calls.find((call) => /subscription MessageAdded/.test(call.requestBody ?? ""));
    assert.ok(subscription, "the subscription went over HTTP");
    assert.match(subscription.headers.get("accept"), /multipart\/mixed;boundary=graphql;subscriptionSpec=1\.0/);
    assert.equal(subscription.status, 200);
    assert.match(subscription.contentType, /^multipart\/mixed/);
  });
});

describe("urql", () => {
  it("gets plain JSON for queries and mutations with its default Accept; GETs carry the CSRF header", TEST, async () => {
    const user = await register("STUDENT", "Ann");
    const fetch = recordingFetch();
    const { client, dispose } = urql.createUrqlClient({ url: ROUTER_URL, getToken: () => user.token, fetch });
    try {
      const renamed = await urql.renameMe(client, "Annie");
      assert.equal(renamed.id, user.id);
      assert.equal(renamed.profile.firstName, "Annie");
      const me = await urql.fetchMe(client);
      assert.equal(me.email, user.email);
      assert.equal(me.profile.firstName, "Annie");
    } finally {
      dispose();
    }
    assert.equal(fetch.calls.length, 2);
    const [mutation, query] = fetch.calls;
    assert.equal(mutation.method, "POST");
    assert.equal(query.method, "GET", "urql sends short queries as GET");
    for (const call of fetch.calls) {
      assert.match(call.headers.get("accept"), /text\/event-stream/, "urql's default Accept");
      assert.equal(call.headers.get("authorization"), `Bearer ${user.token}`);
      assert.equal(call.headers.get("apollo-require-preflight"), "true");
      assert.equal(call.status, 200, `${call.method} answered ${call.status}`);
      assert.match(call.contentType, JSON_TYPES, `${call.method} ${call.url.pathname} answered as ${call.contentType}`);
    }
  });

  it("receives messageAdded through subscriptionExchange (graphql-ws)", TEST, async () => {
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      urql.openConversation({ url: ROUTER_URL, token: tutor.token, conversationId, onMessage, onError }),
    );
  });
});

describe("Relay", () => {
  it("fetchFn posts the query text; me lands in the store", TEST, async () => {
    const user = await register("TUTOR", "Tom");
    const fetch = recordingFetch();
    const { environment, dispose } = relay.createRelayEnvironment({ url: ROUTER_URL, getToken: () => user.token, fetch });
    try {
      const me = await relay.fetchMe(environment);
      assert.deepEqual({ ...me, profile: { ...me.profile } }, {
        id: user.id,
        email: user.email,
        role: "TUTOR",
        profile: { firstName: "Tom" },
      });
      const record = environment.getStore().getSource().get(user.id);
      assert.equal(record?.email, user.email, "normalised into the store");
    } finally {
      dispose();
    }
    const body = JSON.parse(fetch.calls[0].requestBody);
    assert.match(body.query, /query operationsMeQuery/);
    assert.equal(body.documentId, undefined);
  });

  it("a router without Relay's manifest refuses its documentId with PERSISTED_DOCUMENT_NOT_FOUND", TEST, async () => {
    const user = await register("TUTOR", "Tom");
    const { environment, dispose } = relay.createRelayEnvironment({ url: ROUTER_URL, getToken: () => user.token, persisted: true });
    try {
      await assert.rejects(relay.fetchMe(environment), (error) => {
        assert.equal(error.status, 400, error.message);
        assert.equal(error.errors?.[0]?.extensions?.code, "PERSISTED_DOCUMENT_NOT_FOUND", error.message);
        return true;
      });
    } finally {
      dispose();
    }
  });

  it(
    "runs persisted documents by documentId on a safelisting router that loaded persisted-documents.json",
    { ...TEST, skip: !PERSISTED_ROUTER_URL && "PERSISTED_ROUTER_URL is not set (run.sh sets it when edustream-router is built)" },
    async () => {
      const fetch = recordingFetch();
      const user = await register("TUTOR", "Tom");
      const { environment, dispose } = relay.createRelayEnvironment({
        url: PERSISTED_ROUTER_URL,
        getToken: () => user.token,
        persisted: true,
        fetch,
      });
      try {
        const me = await relay.fetchMe(environment);
        assert.equal(me.id, user.id);
      } finally {
        dispose();
      }
      const body = JSON.parse(fetch.calls[0].requestBody);
      assert.equal(body.documentId, relay.MeQuery.params.id);
      assert.match(body.documentId, /^[0-9a-f]{64}$/);
      assert.equal(body.query, undefined, "the text is not sent");

      // That router runs nothing else (safelist): the proof that the id, not a text, did the work.
      const other = await post("{ me { id email } }", {}, { url: PERSISTED_ROUTER_URL, token: user.token });
      assert.equal(other.status, 400);
      assert.equal(other.body.errors[0].extensions.code, "PERSISTED_DOCUMENT_REQUIRED");

      // Subscriptions: by id over SSE; over the WebSocket by the exact text of the trusted document.
      for (const subscriptions of ["sse", "ws"]) {
        await chat(({ tutor, conversationId, onMessage, onError }) =>
          relay.openConversation({ url: PERSISTED_ROUTER_URL, token: tutor.token, conversationId, persisted: true, subscriptions, onMessage, onError }),
        );
      }
    },
  );

  it("receives messageAdded through graphql-ws", TEST, async () => {
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      relay.openConversation({ url: ROUTER_URL, token: tutor.token, conversationId, subscriptions: "ws", onMessage, onError }),
    );
  });

  it("receives messageAdded through graphql-sse", TEST, async () => {
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      relay.openConversation({ url: ROUTER_URL, token: tutor.token, conversationId, subscriptions: "sse", onMessage, onError }),
    );
  });
});

describe("graphql-ws", () => {
  it("runs me and receives messageAdded on one socket, the token in connectionParams", TEST, async () => {
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      gqlws.openConversation({ url: WS_URL, token: tutor.token, conversationId, onMessage, onError }),
    );
  });

  it("is closed with 4403 for a refused token, and does not retry it", TEST, async () => {
    const user = await register("STUDENT", "Ann");
    const closes = [];
    const client = gqlws.createWsClient({
      url: WS_URL,
      getToken: () => `${user.token.slice(0, -4)}AAAA`,
      onClosed: (event) => closes.push(event),
    });
    try {
      await assert.rejects(gqlws.query(client, gqlws.ME), (event) => {
        assert.equal(event.code, 4403, `closed with ${event.code} ${event.reason}`);
        assert.match(event.reason, /UNAUTHENTICATED/);
        return true;
      });
      assert.equal(closes.length, 1, "one connection, no retry");
    } finally {
      client.dispose();
    }
  });
});

describe("graphql-sse", () => {
  it("reports a refused token as a NetworkError holding the router's 401 answer", TEST, async () => {
    const user = await register("STUDENT", "Ann");
    const client = sse.createSseClient({ url: ROUTER_URL, getToken: () => `${user.token.slice(0, -4)}AAAA`, retryAttempts: 0 });
    let error;
    let body;
    try {
      await sse.query(client, sse.ME);
    } catch (caught) {
      error = caught;
      body = await caught.response?.json(); // before dispose() aborts the request
    } finally {
      client.dispose();
    }
    assert.equal(error?.name, "NetworkError", String(error));
    assert.equal(error.response.status, 401);
    assert.equal(body.errors[0].extensions.code, "UNAUTHENTICATED");
  });

  it("runs me and receives messageAdded over SSE, the token and CSRF header in headers", TEST, async () => {
    const fetch = recordingFetch();
    await chat(({ tutor, conversationId, onMessage, onError }) =>
      sse.openConversation({ url: ROUTER_URL, token: tutor.token, conversationId, onMessage, onError, fetch }),
    );
    assert.ok(fetch.calls.length >= 2, "one request per operation");
    for (const call of fetch.calls) {
      assert.equal(call.method, "POST");
      assert.equal(call.headers.get("accept"), "text/event-stream");
      assert.match(call.headers.get("authorization"), /^Bearer /);
      assert.equal(call.headers.get("apollo-require-preflight"), "true");
      assert.equal(call.status, 200);
      assert.match(call.contentType, /^text\/event-stream/);
    }
  });
});
