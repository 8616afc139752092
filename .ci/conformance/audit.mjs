// The graphql-http server audit against a live Clientele: exits non-zero on any
// failed MUST audit, and lists every SHOULD/MAY warning with its reason.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}
const results = await auditServer({ url });
const count = (status) => results.filter((r) => r.status === status).length;
for (const result of results) {
  if (result.status !== 'ok') {
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}`);
  }
}
console.log(`graphql-http audit: ${count('ok')} ok, ${count('warn')} warnings, ${count('error')} failed MUST audits`);
process.exit(count('error') === 0 ? 0 : 1);
