// urql (@urql/core) against the EduStream router.
//
// - fetchExchange for queries and mutations: urql sends queries as GET when the URL stays short
//   (`preferGetMethod: "within-url-limit"`, its default), without a content-type, so the CSRF
//   header is required; `fetchOptions` adds it and the token;
// - urql's default Accept (`application/graphql-response+json, application/graphql+json,
//   application/json, text/event-stream, multipart/mixed`) is answered with plain JSON for
//   queries and mutations;
// - subscriptionExchange over graphql-ws.

import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from "@urql/core";
import { createClient as createWsClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 has no global WebSocket; browsers do

export const ME = gql`
  query Me {
    me {
      id
      email
      role
      profile {
        firstName
      }
    }
  }
`;

export const UPDATE_PROFILE = gql`
  mutation UpdateProfile($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      id
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

/**
 * @param {object} options
 * @param {string} options.url                   http://127.0.0.1:4000/graphql
 * @param {() => string | undefined} options.getToken
 * @param {typeof fetch} [options.fetch]         a fetch to use (tests pass a recording one)
 */
export function createUrqlClient({ url, getToken, fetch }) {
  const ws = createWsClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: () => {
      const token = getToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
  });
  const client = new Client({
    url,
    fetch,
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
    // A function: evaluated for every request, so the current token is sent.
    fetchOptions: () => {
      const token = getToken();
      return {
        headers: {
          "apollo-require-preflight": "true", // CSRF prevention: GET queries carry no content-type
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      };
    },
  });
  return { client, dispose: () => ws.dispose() };
}

/** The signed-in user, from the network. */
export async function fetchMe(client) {
  const result = await client.query(ME, {}, { requestPolicy: "network-only" }).toPromise();
  if (result.error) throw result.error;
  return result.data.me;
}

export async function renameMe(client, firstName) {
  const result = await client.mutation(UPDATE_PROFILE, { input: { firstName } }).toPromise();
  if (result.error) throw result.error;
  return result.data.updateProfile;
}

/** New messages of a conversation; returns a function that stops listening. */
export function onMessageAdded(client, conversationId, { next, error }) {
  const { unsubscribe } = client.subscription(MESSAGE_ADDED, { conversationId }).subscribe((result) => {
    if (result.error) error(result.error);
    else next(result.data.messageAdded);
  });
  return unsubscribe;
}

/**
 * A realistic flow: rename myself, read me back, then listen to a conversation.
 * Returns `{ renamed, me, stop }`.
 */
export async function openConversation({ url, token, conversationId, firstName, onMessage, onError, fetch }) {
  const { client, dispose } = createUrqlClient({ url, getToken: () => token, fetch });
  const renamed = firstName ? await renameMe(client, firstName) : undefined;
  const me = await fetchMe(client);
  const unsubscribe = onMessageAdded(client, conversationId, { next: onMessage, error: onError });
  return {
    renamed,
    me,
    stop: () => {
      unsubscribe();
      dispose();
    },
  };
}
