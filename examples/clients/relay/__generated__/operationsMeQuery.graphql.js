/**
 * @generated SignedSource<<40a0a15783e6a698256e95a070bc5bbf>>
 * @relayHash 628f7f4becf0faf2a6acc0e6cc11000f
 * @lightSyntaxTransform
 */

/* eslint-disable */

'use strict';

// @relayRequestID 097826cfbba2e5949aebb35f4cb3b41e895413f410d7d4b3c0d48c565a456959

var node = (function(){
var v0 = [
  {
    "alias": null,
    "args": null,
    "concreteType": "User",
    "kind": "LinkedField",
    "name": "me",
    "plural": false,
    "selections": [
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "id",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "email",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "role",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "concreteType": "UserProfile",
        "kind": "LinkedField",
        "name": "profile",
        "plural": false,
        "selections": [
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "firstName",
            "storageKey": null
          }
        ],
        "storageKey": null
      }
    ],
    "storageKey": null
  }
];
return {
  "fragment": {
    "argumentDefinitions": [],
    "kind": "Fragment",
    "metadata": null,
    "name": "operationsMeQuery",
    "selections": (v0/*:: as any*/),
    "type": "Query",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": [],
    "kind": "Operation",
    "name": "operationsMeQuery",
    "selections": (v0/*:: as any*/)
  },
  "params": {
    "cacheID": "628f7f4becf0faf2a6acc0e6cc11000f",
    "id": "097826cfbba2e5949aebb35f4cb3b41e895413f410d7d4b3c0d48c565a456959",
    "metadata": {},
    "name": "operationsMeQuery",
    "operationKind": "query",
    "text": "query operationsMeQuery {\n  me {\n    id\n    email\n    role\n    profile {\n      firstName\n    }\n  }\n}\n"
  }
};
})();

node.hash = "db2bc55e88fee7aa67d573f98a6ee63a";

export default node;
