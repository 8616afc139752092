// Rebuilds the schema from the live server's introspection (as GraphiQL and code
// generators do) and compares it, printed by graphql-js, with schema.graphql.
import { readFileSync } from 'node:fs';
import {
  GraphQLSchema, buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema,
  printSchema,
} from 'graphql';

const [url, file] = process.argv.slice(2);
const query = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});
const response = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
  body: JSON.stringify({ query }),
});
const body = await response.json();
if (body.errors) {
  console.error('introspection failed:', JSON.stringify(body.errors));
  process.exit(1);
}
const print = (schema) => printSchema(lexicographicSortSchema(schema));
// async-graphql answers `__schema.description` with the generic text of the __Schema
// type rather than a description of this schema; SDL has no place for it, so it is
// left out of the comparison.
const client = buildClientSchema(body.data);
const live = print(new GraphQLSchema({ ...client.toConfig(), description: undefined }));
const committed = print(buildSchema(readFileSync(file, 'utf8')));
if (live !== committed) {
  const a = live.split('\n');
  const b = committed.split('\n');
  const line = a.findIndex((text, i) => text !== b[i]);
  console.error(`introspection and ${file} differ from line ${line + 1}:`);
  console.error(`  introspection: ${a[line]}\n  schema.graphql: ${b[line]}`);
  process.exit(1);
}
console.log(`introspection rebuilds schema.graphql exactly (${live.split('\n').length} lines)`);
