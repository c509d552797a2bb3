// Test fixtures: users, a conversation and messages, made through the router with plain
// `fetch` (no client library), so that a failure here is never a client's configuration.

import { randomUUID } from "node:crypto";

export const ROUTER_URL = process.env.ROUTER_URL ?? "http://127.0.0.1:4000/graphql";
/** The WebSocket address of the same endpoint (`http` → `ws`). */
export const WS_URL = ROUTER_URL.replace(/^http/, "ws");

/** One GraphQL request as JSON; returns `{ status, contentType, body }`. */
export async function post(query, variables = {}, { token, url = ROUTER_URL, headers = {} } = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${response.status} with something that is not JSON: ${text.slice(0, 300)}`);
  }
  return { status: response.status, contentType: response.headers.get("content-type"), body };
}

/** `data` of a request that must succeed; throws with the whole answer otherwise. */
export async function data(query, variables, options) {
  const { status, body } = await post(query, variables, options);
  if (status !== 200 || body.errors?.length || !body.data) {
    throw new Error(`expected data, got HTTP ${status}: ${JSON.stringify(body)}`);
  }
  return body.data;
}

const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresIn user { id email role profile { firstName } } }
}`;

/**
 * Registers a new account through the router (a random e-mail each time) and returns
 * `{ id, email, firstName, role, token, refreshToken, password }`.
 */
export async function register(role = "STUDENT", firstName = role === "TUTOR" ? "Tom" : "Ann") {
  const email = `${firstName.toLowerCase()}.${randomUUID()}@example.test`;
  const password = `pw-${randomUUID()}`;
  const input = { email, password, firstName, lastName: "Example", role };
  const { register: payload } = await data(REGISTER, { input });
  return {
    id: payload.user.id,
    email: payload.user.email,
    role: payload.user.role,
    firstName: payload.user.profile.firstName,
    token: payload.accessToken,
    refreshToken: payload.refreshToken,
    expiresIn: payload.expiresIn,
    password,
  };
}

const START = `mutation Start($with: ID!) { startConversation(participantId: $with) { id } }`;

/**
 * A student and a tutor (new accounts) and their conversation. Messaging learns about users
 * from identity's events, so the first attempts may answer UNKNOWN_USER: retried, bounded.
 */
export async function pair() {
  const student = await register("STUDENT", "Ann");
  const tutor = await register("TUTOR", "Tom");
  let last;
  for (let attempt = 0; attempt < 100; attempt++) {
    last = await post(START, { with: tutor.id }, { token: student.token });
    const id = last.body.data?.startConversation?.id;
    if (id) return { student, tutor, conversationId: id };
    await sleep(50);
  }
  throw new Error(`the conversation could not be started: ${JSON.stringify(last.body)}`);
}

const SEND = `mutation Send($c: ID!, $text: String!) {
  sendMessage(conversationId: $c, content: $text) { id content }
}`;

export async function sendMessage(token, conversationId, text) {
  const { sendMessage: message } = await data(SEND, { c: conversationId, text }, { token });
  return message;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Events pushed by a client's callback, read one at a time with a deadline.
 */
export class Inbox {
  #items = [];
  #waiters = [];
  #failure = null;

  push = (item) => {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.#items.push(item);
  };

  fail = (error) => {
    this.#failure = error instanceof Error ? error : new Error(describe(error));
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#failure);
  };

  get size() {
    return this.#items.length;
  }

  /** The next item, or a rejection after `ms` milliseconds (or at once if the stream failed). */
  next(ms = 10_000) {
    if (this.#items.length) return Promise.resolve(this.#items.shift());
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (item) => {
          clearTimeout(timer);
          resolve(item);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`nothing arrived within ${ms} ms`));
      }, ms);
      this.#waiters.push(waiter);
    });
  }
}

function describe(value) {
  if (value && typeof value === "object") {
    if ("code" in value && "reason" in value) return `closed with ${value.code} ${value.reason}`;
    try {
      return JSON.stringify(value);
    } catch {
      /* fall through */
    }
  }
  return String(value);
}

/**
 * Sends messages from `sender` until the subscriber's inbox receives one (a subscription is
 * only live once the router has subscribed upstream, which no protocol acknowledges), waiting
 * longer each time: at most `attempts` messages, within messaging's burst of 5 per sender.
 * Returns `{ event, sent }`: the first event and every message sent, by id.
 */
export async function sendUntilReceived(inbox, sender, conversationId, { attempts = 5, firstWait = 300 } = {}) {
  const sent = new Map();
  let wait = firstWait;
  let lastError;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const message = await sendMessage(sender.token, conversationId, `Hello #${attempt} from ${sender.firstName}`);
    sent.set(message.id, message);
    try {
      const event = await inbox.next(wait);
      return { event, sent };
    } catch (error) {
      lastError = error;
      if (!/nothing arrived/.test(error.message)) throw error;
    }
    wait *= 2;
  }
  throw new Error(`no event after ${attempts} messages: ${lastError?.message}`);
}
