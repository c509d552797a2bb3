// Apollo Client 4 against the EduStream router.
//
// - queries and mutations: HttpLink to /graphql, `authorization: Bearer …`, the CSRF header;
// - client awareness: `apollographql-client-name` / `-version` on every request;
// - optional automatic persisted queries (sha256, GET for hashed queries);
// - subscriptions over WebSocket (GraphQLWsLink, graphql-ws) or, by default, over HTTP
//   multipart (`multipart/mixed;subscriptionSpec=1.0`, no extra link needed).

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 has no global WebSocket; browsers do (omit `webSocketImpl` there)

export const ME = gql`
  query Me {
    me {
      id
      email
      role
      profile {
        firstName
        lastName
      }
    }
  }
`;

export const MESSAGE_ADDED = gql`
  subscription MessageAdded($conversationId: ID!) {
    messageAdded(conversationId: $conversationId) {
      id
      conversationId
      content
      sender {
        id
        profile {
          firstName
        }
      }
    }
  }
`;

/** SHA-256 as lowercase hex, with Web Crypto (browsers and Node ≥ 20 alike). */
export async function sha256(text) {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * An Apollo Client for the router.
 *
 * @param {object} options
 * @param {string} options.url             the router's /graphql, e.g. http://127.0.0.1:4000/graphql
 * @param {() => string | undefined} options.getToken  the current access token (read per request)
 * @param {"ws" | "http"} [options.subscriptions]  WebSocket (graphql-ws) or HTTP multipart (default "ws")
 * @param {boolean} [options.persistedQueries]     automatic persisted queries, hashed queries as GET
 * @param {typeof fetch} [options.fetch]          a fetch to use (tests pass a recording one)
 */
export function createApolloClient({ url, getToken, subscriptions = "ws", persistedQueries = false, fetch }) {
  const httpLink = new HttpLink({
    uri: url,
    fetch,
    // The router refuses requests a browser could send cross-site without a preflight (CSRF).
    // POSTs carry `content-type: application/json`, which already proves it; GETs (persisted
    // queries) need this header.
    headers: { "apollo-require-preflight": "true" },
  });

  // The token, read for each request (so a refreshed token is used from the next request on).
  const authLink = new ApolloLink((operation, forward) => {
    const token = getToken();
    operation.setContext(({ headers = {} }) => ({
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }));
    return forward(operation);
  });

  let link = ApolloLink.from([
    authLink,
    ...(persistedQueries ? [new PersistedQueryLink({ sha256, useGETForHashedQueries: true })] : []),
    httpLink,
  ]);

  let wsClient;
  if (subscriptions === "ws") {
    wsClient = createClient({
      url: url.replace(/^http/, "ws"), // ws://127.0.0.1:4000/graphql
      webSocketImpl: WebSocket,
      // Read at every (re)connection: the router closes a socket at its token's expiry (4403).
      connectionParams: () => {
        const token = getToken();
        return token ? { authorization: `Bearer ${token}` } : {};
      },
    });
    // Subscriptions over the WebSocket; queries and mutations over HTTP.
    link = ApolloLink.split(
      ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
      new GraphQLWsLink(wsClient),
      link,
    );
  }
  // With subscriptions: "http", HttpLink itself sends subscriptions with
  // `accept: multipart/mixed;boundary=graphql;subscriptionSpec=1.0,…` and reads the parts.

  const client = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    // Sent as `apollographql-client-name` / `apollographql-client-version` headers.
    clientAwareness: { name: "edustream-web", version: "1.4.2" },
  });
  // Also closes the WebSocket.
  const stop = client.stop.bind(client);
  client.stop = () => {
    stop();
    wsClient?.dispose();
  };
  return client;
}

/** The signed-in user (network-only: always asks the router). */
export async function fetchMe(client) {
  const { data, error } = await client.query({ query: ME, fetchPolicy: "network-only" });
  if (error) throw error;
  return data.me;
}

/**
 * New messages of a conversation as they are sent; returns a function that stops listening.
 */
export function onMessageAdded(client, conversationId, { next, error }) {
  const subscription = client
    .subscribe({ query: MESSAGE_ADDED, variables: { conversationId } })
    .subscribe({
      next: (result) => {
        if (result.error) error(result.error);
        else next(result.data.messageAdded);
      },
      error,
    });
  return () => subscription.unsubscribe();
}

/**
 * A realistic page load: who am I, then listen to a conversation.
 * Returns `{ me, stop }`; `onMessage` gets every new message.
 */
export async function openConversation({ url, token, conversationId, subscriptions, onMessage, onError, fetch }) {
  const client = createApolloClient({ url, getToken: () => token, subscriptions, fetch });
  const me = await fetchMe(client);
  const unsubscribe = onMessageAdded(client, conversationId, { next: onMessage, error: onError });
  return {
    me,
    stop: () => {
      unsubscribe();
      client.stop();
    },
  };
}
