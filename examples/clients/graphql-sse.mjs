// graphql-sse (GraphQL over Server-Sent Events, "distinct connections" mode) against the
// EduStream router: one POST /graphql with `accept: text/event-stream` per operation, answered
// with `event: next` / `data: {…}` and a final `event: complete`.

import { createClient } from "graphql-sse";

export const ME = /* GraphQL */ `
  query Me {
    me {
      id
      email
      profile {
        firstName
      }
    }
  }
`;

export const MESSAGE_ADDED = /* GraphQL */ `
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
 * @param {string} options.url        http://127.0.0.1:4000/graphql (the same endpoint as queries)
 * @param {() => string | undefined} options.getToken
 * @param {number} [options.retryAttempts]  reopenings of a failed stream before giving up (default 3)
 * @param {typeof fetch} [options.fetch]
 */
export function createSseClient({ url, getToken, retryAttempts = 3, fetch }) {
  return createClient({
    url,
    singleConnection: false, // distinct connections: the mode the router serves
    // A function: read for every operation (and every retry), so a refreshed token is used.
    headers: () => {
      const token = getToken();
      return {
        // graphql-sse POSTs JSON (which passes CSRF prevention by itself); the header also
        // covers proxies or setups that turn the request into a GET.
        "apollo-require-preflight": "true",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      };
    },
    // A dropped stream is reopened (the router does not replay missed events). graphql-sse
    // retries any non-2xx answer too, refusals included, then reports a NetworkError whose
    // `response` is the router's JSON error.
    retryAttempts,
    ...(fetch ? { fetchFn: fetch } : {}),
  });
}

/** One query as a one-event stream. */
export async function query(client, document, variables = {}) {
  for await (const result of client.iterate({ query: document, variables })) {
    if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
    return result.data;
  }
  throw new Error("the stream completed without a result");
}

/** New messages of a conversation; returns a function that stops listening. */
export function onMessageAdded(client, conversationId, { next, error }) {
  return client.subscribe(
    { query: MESSAGE_ADDED, variables: { conversationId } },
    {
      next: (result) => (result.errors?.length ? error(result.errors) : next(result.data.messageAdded)),
      error,
      complete: () => {},
    },
  );
}

/** A realistic flow: who am I, then listen to a conversation. Returns `{ me, stop }`. */
export async function openConversation({ url, token, conversationId, onMessage, onError, fetch }) {
  const client = createSseClient({ url, getToken: () => token, fetch });
  const { me } = await query(client, ME);
  const unsubscribe = onMessageAdded(client, conversationId, { next: onMessage, error: onError });
  return {
    me,
    stop: () => {
      unsubscribe();
      client.dispose();
    },
  };
}
