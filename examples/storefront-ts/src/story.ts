// The storefront and admin stories against a live server, through the typed client.
//
//   CLIENTELE_URL=http://127.0.0.1:PORT/graphql WEBHOOK_PORT=PORT \
//   ADMIN_EMAIL=... ADMIN_PASSWORD=... node dist/story.js
//
// The server must deliver its outbox to http://127.0.0.1:WEBHOOK_PORT/ (the claim
// token arrives by "mail" there).
import { createServer } from 'node:http';
import assert from 'node:assert/strict';

import { Clientele } from './client.js';
import {
  AddToGroupDocument,
  AdminLoginDocument,
  ConfirmClaimDocument,
  CreateGroupDocument,
  FindCustomersDocument,
  MyOrdersDocument,
  PlaceOrderDocument,
  RefetchDocument,
  RegisterDocument,
  RequestClaimDocument,
} from './gql/graphql.js';

const url = process.env.CLIENTELE_URL ?? 'http://127.0.0.1:8080/graphql';
const webhookPort = Number(process.env.WEBHOOK_PORT ?? 18951);
const adminEmail = process.env.ADMIN_EMAIL ?? 'admin@example.com';
const adminPassword = process.env.ADMIN_PASSWORD ?? '';

/** Outbox messages received so far, by recipient and kind. */
const mailbox: { kind: string; recipient: string; payload: Record<string, unknown> }[] = [];
const webhook = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => (body += chunk));
  request.on('end', () => {
    mailbox.push(JSON.parse(body));
    response.writeHead(204).end();
  });
});
await new Promise<void>((listening) => webhook.listen(webhookPort, '127.0.0.1', listening));

async function mailFor(recipient: string, kind: string): Promise<Record<string, unknown>> {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const message = mailbox.find((m) => m.recipient === recipient && m.kind === kind);
    if (message) return message.payload;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${kind} message for ${recipient}`);
}

const anonymous = new Clientele(url);
// Unique per run: the story may run against a database that has seen it before.
const email = `ts-${Date.now()}@example.com`;

// Storefront: a guest orders, registers with the same email, and claims the order.
const { placeOrder: order } = await anonymous.run(PlaceOrderDocument, {
  input: {
    email,
    currencyCode: 'EUR',
    lineItems: [{ title: 'Tea', quantity: 2, unitPrice: 450 }],
    shippingAddress: { firstName: 'Sam', city: 'Leeds', countryCode: 'GB' },
  },
});
assert.equal(order.total.amount, 900);

const { registerCustomer: session } = await anonymous.run(RegisterDocument, {
  email,
  password: 'a fine password',
  firstName: 'Sam',
});
assert.equal(session.customer.hasAccount, true);
const sam = anonymous.as(session.token);

await sam.run(RequestClaimDocument, { orderIds: [order.id] });
const { token: claimToken } = (await mailFor(email, 'order_claim')) as { token: string };
const { confirmOrderClaim: claimed } = await sam.run(ConfirmClaimDocument, { token: claimToken });
assert.deepEqual(
  claimed.map((o) => o.displayId),
  [order.displayId],
);

const { me } = await sam.run(MyOrdersDocument);
assert.equal(me.email, email);
assert.equal(me.orders.totalCount, 1);
assert.equal(me.orders.nodes[0]?.status, 'PENDING');
console.log(`storefront story: ${email} claimed order #${order.displayId}`);

// Admin: find the customer, put them in a group, refetch them by id alone.
const { adminLogin } = await anonymous.run(AdminLoginDocument, {
  email: adminEmail,
  password: adminPassword,
});
const admin = anonymous.as(adminLogin.token);
const { customers } = await admin.run(FindCustomersDocument, { search: email });
const found = customers.nodes.find((c) => c.hasAccount);
assert.ok(found, `no registered customer ${email}`);
assert.equal(found.orders.totalCount, 1);
const { createCustomerGroup: group } = await admin.run(CreateGroupDocument, {
  name: `Claimed ${Date.now()}`,
});
await admin.run(AddToGroupDocument, { groupId: group.id, customerIds: [found.id] });
const { node } = await admin.run(RefetchDocument, { id: found.id });
assert.ok(node?.__typename === 'Customer', `node(${found.id}) is ${node?.__typename}`);
assert.equal(node.email, email);
assert.deepEqual(
  node.groups.map((g) => g.name),
  [group.name],
);
console.log(`admin story: ${email} is in group "${group.name}"`);

webhook.close();
console.log('TypeScript client: ok');
