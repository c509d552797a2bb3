// graphql-ws (the `graphql-transport-ws` protocol) against the EduStream router.
//
// One WebSocket at ws://…/graphql carries queries, mutations and subscriptions. The token goes
// in `connectionParams` (the `connection_init` payload), read at every (re)connection.

import { CloseCode, createClient } from "graphql-ws";
import WebSocket from "ws"; // Node 20 has no global WebSocket; browsers do (omit webSocketImpl)

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
 * Whether to reconnect after a close. graphql-ws never retries the codes that cannot succeed
 * (4400, 4401, 4409, 4429, …) but does retry 4403: the router sends `4403 Forbidden: token
 * expired` at the token's expiry (reconnecting with a fresh token from `connectionParams` is
 * right) and `4403 Forbidden: UNAUTHENTICATED` for a refused token (retrying is not).
 */
function shouldRetry(event) {
  const refused = event?.code === CloseCode.Forbidden && !/expired/i.test(event.reason ?? "");
  return !refused;
}

/**
 * @param {object} options
 * @param {string} options.url           ws://127.0.0.1:4000/graphql
 * @param {() => Promise<string | undefined> | string | undefined} options.getToken
 * @param {(event: unknown) => void} [options.onClosed]
 */
export function createWsClient({ url, getToken, onClosed }) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: async () => {
      const token = await getToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    lazy: true, // connect on the first subscribe, close when the last one completes
    lazyCloseTimeout: 1_000, // keep the socket a second for the next operation
    keepAlive: 10_000, // ping every 10 s (the router also pings every 15 s)
    retryAttempts: 5,
    // Network blips, restarts and an expired token are retried (randomised exponential
    // back-off); a refused token is not.
    shouldRetry,
    on: { closed: (event) => onClosed?.(event) },
  });
}

/** One query over the socket (the protocol runs queries too: `next`, `complete`). */
export async function query(client, document, variables = {}) {
  for await (const result of client.iterate({ query: document, variables })) {
    if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
    return result.data;
  }
  throw new Error("the operation completed without a result");
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
export async function openConversation({ url, token, conversationId, onMessage, onError, onClosed }) {
  const client = createWsClient({ url, getToken: () => token, onClosed });
  try {
    const { me } = await query(client, ME);
    const unsubscribe = onMessageAdded(client, conversationId, { next: onMessage, error: onError });
    return {
      me,
      stop: () => {
        unsubscribe();
        client.dispose();
      },
    };
  } catch (error) {
    client.dispose();
    throw error;
  }
}
