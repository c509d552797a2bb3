/**
 * @generated SignedSource<<8cb04dbcc5d1a6f51512f6bf1f8afbc3>>
 * @relayHash c2253c42a218c7d383aa5d1249797aad
 * @lightSyntaxTransform
 */

/* eslint-disable */

'use strict';

// @relayRequestID e58e8f9ca9d59d748a0d3a8b629edcf457f4c72e0d8e13b8fb7889862b8f51d5

var node = (function(){
var v0 = [
  {
    "defaultValue": null,
    "kind": "LocalArgument",
    "name": "conversationId"
  }
],
v1 = {
  "alias": null,
  "args": null,
  "kind": "ScalarField",
  "name": "id",
  "storageKey": null
},
v2 = [
  {
    "alias": null,
    "args": [
      {
        "kind": "Variable",
        "name": "conversationId",
        "variableName": "conversationId"
      }
    ],
    "concreteType": "Message",
    "kind": "LinkedField",
    "name": "messageAdded",
    "plural": false,
    "selections": [
      (v1/*:: as any*/),
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "conversationId",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "content",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "concreteType": "User",
        "kind": "LinkedField",
        "name": "sender",
        "plural": false,
        "selections": [
          (v1/*:: as any*/),
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
    ],
    "storageKey": null
  }
];
return {
  "fragment": {
    "argumentDefinitions": (v0/*:: as any*/),
    "kind": "Fragment",
    "metadata": null,
    "name": "operationsMessageAddedSubscription",
    "selections": (v2/*:: as any*/),
    "type": "Subscription",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*:: as any*/),
    "kind": "Operation",
    "name": "operationsMessageAddedSubscription",
    "selections": (v2/*:: as any*/)
  },
  "params": {
    "cacheID": "c2253c42a218c7d383aa5d1249797aad",
    "id": "e58e8f9ca9d59d748a0d3a8b629edcf457f4c72e0d8e13b8fb7889862b8f51d5",
    "metadata": {},
    "name": "operationsMessageAddedSubscription",
    "operationKind": "subscription",
    "text": "subscription operationsMessageAddedSubscription(\n  $conversationId: ID!\n) {\n  messageAdded(conversationId: $conversationId) {\n    id\n    conversationId\n    content\n    sender {\n      id\n      profile {\n        firstName\n      }\n    }\n  }\n}\n"
  }
};
})();

node.hash = "468e3c003bcaf3891fe222a6720ecc6b";

export default node;
