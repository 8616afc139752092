// The client's half of the consistency token (docs/scaling.md): it sends back the
// newest token it was given, and a client made with `as()` shares it. A local HTTP
// peer on 127.0.0.1 plays the server's half: it hands out a newer token with every
// answer and records the one each request carried.
//
//   node dist/consistency.js
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';

import { Clientele } from './client.js';
import { MyOrdersDocument } from './gql/graphql.js';

const carried: (string | undefined)[] = [];
let position = 0x3000000;
const peer = createServer((request, response) => {
  const token = request.headers['clientele-consistency'];
  carried.push(Array.isArray(token) ? token[0] : token);
  request.resume();
  request.on('end', () => {
    position += 0x100;
    response.setHeader('content-type', 'application/graphql-response+json');
    response.setHeader('clientele-consistency', `0/${position.toString(16).toUpperCase()}`);
    response.end(JSON.stringify({ data: { me: null } }));
  });
});
await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
const { port } = peer.address() as AddressInfo;

const shopper = new Clientele(`http://127.0.0.1:${port}/graphql`);
await shopper.run(MyOrdersDocument);
await shopper.as('cls_a-session').run(MyOrdersDocument);
await shopper.run(MyOrdersDocument);
peer.close();

// The first request has nothing to send; each later one sends the token of the
// answer before it, whichever of the two clients sent that request.
assert.deepEqual(carried, [undefined, '0/3000100', '0/3000200']);
console.log('the typed client sends back the newest consistency token');
