// The Relay example's documents. relay-compiler (`npm run relay`) reads the graphql`…` tags
// below and writes relay/__generated__/*.graphql.js, plus ../persisted-documents.json: the
// `{ "<sha256>": "<document>" }` map the router loads as trusted documents
// (`persisted_documents.manifests`). In an app, babel-plugin-relay turns each tag into an
// import of its artifact; here the imports are written out.

const graphql = String.raw; // only for the compiler's eyes: the artifacts are what runs

graphql`
  query operationsMeQuery {
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

graphql`
  subscription operationsMessageAddedSubscription($conversationId: ID!) {
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

export { default as MeQuery } from "./__generated__/operationsMeQuery.graphql.js";
export { default as MessageAddedSubscription } from "./__generated__/operationsMessageAddedSubscription.graphql.js";
