// Relay (relay-runtime) against the EduStream router.
//
// - the network layer's fetchFn POSTs `{ query, operationName, variables }`, or, for persisted
//   documents, `{ documentId, operationName, variables }` (ids written by relay-compiler's
//   `persistConfig`, loaded by the router as trusted documents);
// - subscriptions through graphql-sse (Server-Sent Events; `documentId` too when persisted) or
//   graphql-ws (WebSocket; always the text, which graphql-ws requires).

import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import {
  Environment,
  Network,
  Observable,
  RecordSource,
  Store,
  fetchQuery,
  requestSubscription,
} from "relay-runtime";
import WebSocket from "ws"; // Node 20 has no global WebSocket; browsers do

import { MeQuery, MessageAddedSubscription } from "./relay/operations.js";

export { MeQuery, MessageAddedSubscription };

/** A GraphQL error answer, with the router's `errors` (and their `extensions.code`) kept. */
export class GraphQLResponseError extends Error {
  constructor(status, errors) {
    super(`HTTP ${status}: ${errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; ")}`);
    this.status = status;
    this.errors = errors;
  }
}

/** The request body: the document's id when persisted, else its text. */
function operationBody(params, variables, persisted) {
  return persisted && params.id
    ? { documentId: params.id, operationName: params.name, variables }
    : { query: params.text, operationName: params.name, variables };
}

/**
 * @param {object} options
 * @param {string} options.url                        http://127.0.0.1:4000/graphql
 * @param {() => string | undefined} options.getToken
 * @param {boolean} [options.persisted]               send `documentId` instead of the text
 * @param {"ws" | "sse"} [options.subscriptions]      the subscription transport (default "ws")
 * @param {typeof fetch} [options.fetch]
 */
export function createRelayEnvironment({ url, getToken, persisted = false, subscriptions = "ws", fetch = globalThis.fetch }) {
  const authorization = () => {
    const token = getToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  };

  async function fetchFn(params, variables) {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        // application/json: passes CSRF prevention (browsers preflight it)
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...authorization(),
      },
      body: JSON.stringify(operationBody(params, variables, persisted)),
    });
    const json = await response.json();
    // A request the router refused (400/401/403…): no data, only errors. Field errors come
    // with data and go to Relay as they are.
    if (!json.data && json.errors?.length) throw new GraphQLResponseError(response.status, json.errors);
    return json;
  }

  let subscribeFn;
  let dispose = () => {};
  if (subscriptions === "ws") {
    const ws = createWsClient({
      url: url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      connectionParams: authorization,
    });
    dispose = () => ws.dispose();
    // graphql-ws requires a `query` string in every `subscribe` message, so the text goes over
    // the socket even in persisted mode; under the safelist the router admits it because it is
    // byte for byte the trusted document.
    subscribeFn = (params, variables) =>
      Observable.create((sink) => ws.subscribe(operationBody(params, variables, false), sink));
  } else {
    const sse = createSseClient({
      url,
      singleConnection: false,
      headers: () => ({ "apollo-require-preflight": "true", ...authorization() }),
      fetchFn: fetch,
    });
    dispose = () => sse.dispose();
    subscribeFn = (params, variables) =>
      Observable.create((sink) => sse.subscribe(operationBody(params, variables, persisted), sink));
  }

  const environment = new Environment({
    network: Network.create(fetchFn, subscribeFn),
    store: new Store(new RecordSource()),
  });
  return { environment, dispose };
}

/** The signed-in user, from the network (and now in the store). */
export function fetchMe(environment) {
  return fetchQuery(environment, MeQuery, {}, { fetchPolicy: "network-only" }).toPromise().then((data) => data.me);
}

/** New messages of a conversation; returns a function that stops listening. */
export function onMessageAdded(environment, conversationId, { next, error }) {
  const disposable = requestSubscription(environment, {
    subscription: MessageAddedSubscription,
    variables: { conversationId },
    onNext: (response) => next(response.messageAdded),
    onError: error,
  });
  return () => disposable.dispose();
}

/** A realistic flow: who am I, then listen to a conversation. Returns `{ me, stop }`. */
export async function openConversation({ url, token, conversationId, persisted, subscriptions, onMessage, onError }) {
  const { environment, dispose } = createRelayEnvironment({ url, getToken: () => token, persisted, subscriptions });
  try {
    const me = await fetchMe(environment);
    const unsubscribe = onMessageAdded(environment, conversationId, { next: onMessage, error: onError });
    return {
      me,
      environment,
      stop: () => {
        unsubscribe();
        dispose();
      },
    };
  } catch (error) {
    dispose();
    throw error;
  }
}
