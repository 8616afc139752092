// A small typed client: every call takes a document generated from schema.graphql, so
// its variables and its result are checked by tsc against the server's schema.
import type { TypedDocumentString } from './gql/graphql.js';

/** A GraphQL error as Clientele sends it: `extensions.code` is always set. */
export class GraphQLError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(`${code}: ${message}`);
  }
}

type NoVariables = Record<string, never>;

/**
 * The newest consistency token the server gave (`Clientele-Consistency`), sent back
 * with every request so that a standby never answers with older data than this
 * client has seen. Shared by a client and those `as()` makes from it.
 */
type Consistency = { token?: string };

export class Clientele {
  constructor(
    private readonly url: string,
    private token?: string,
    private readonly seen: Consistency = {},
  ) {}

  /** A client that sends `token` as its bearer token from now on. */
  as(token: string): Clientele {
    return new Clientele(this.url, token, this.seen);
  }

  async run<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    ...[variables]: TVariables extends NoVariables ? [] : [TVariables]
  ): Promise<TResult> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.seen.token) headers['clientele-consistency'] = this.seen.token;
    const response = await fetch(this.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
    });
    const token = response.headers.get('clientele-consistency');
    if (token) this.seen.token = token;
    const body = (await response.json()) as {
      data?: TResult | null;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    const error = body.errors?.[0];
    if (error) throw new GraphQLError(error.message, error.extensions?.code ?? 'UNKNOWN');
    if (body.data == null) throw new Error(`no data (HTTP ${response.status})`);
    return body.data;
  }
}
