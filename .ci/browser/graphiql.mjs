// Headless Chromium through the real GraphiQL UI of a live Clientele server.
//
//   BASE_URL=http://127.0.0.1:PORT ADMIN_EMAIL=... ADMIN_PASSWORD=... \
//   SCREENSHOT=/tmp/graphiql.png node graphiql.mjs
//
// It opens /graphql, opens the documentation explorer (the schema came through
// introspection), types an admin query into the query editor and the admin's bearer
// token into the header editor, runs it with the execute button and reads the result
// pane. Every request the page makes is watched: one to any other host, a failed one,
// a content-security-policy violation or a script error fails the run. A screenshot is
// written at the end, and on failure too.

import { chromium } from 'playwright-core';

const base = new URL(process.env.BASE_URL ?? 'http://127.0.0.1:8080');
const screenshot = process.env.SCREENSHOT ?? '/tmp/clientele-graphiql.png';
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const deadline = 30_000;

async function adminToken() {
  const response = await fetch(new URL('/graphql', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($e: String!, $p: String!) { adminLogin(email: $e, password: $p) { token } }',
      variables: { e: process.env.ADMIN_EMAIL, p: process.env.ADMIN_PASSWORD },
    }),
  });
  const body = await response.json();
  const token = body?.data?.adminLogin?.token;
  if (!token) throw new Error(`admin login failed: ${JSON.stringify(body)}`);
  return token;
}

const problems = [];
const browser = await chromium.launch({
  executablePath: browserPath,
  headless: true,
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const hosts = new Set();
await page.route('**/*', (route) => {
  const url = new URL(route.request().url());
  hosts.add(url.host);
  if (url.host !== base.host) {
    problems.push(`a request left for another host: ${url.href}`);
    return route.abort();
  }
  return route.continue();
});
page.on('requestfailed', (request) =>
  problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
);
page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
page.on('console', (message) => {
  if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
});

/** Replaces the text of the visible CodeMirror editor inside `container` by typing
 * `text`, and checks that the editor then holds exactly that. */
async function typeInto(container, text) {
  const editor = page.locator(`${container} .CodeMirror`).filter({ visible: true }).first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // Typed key by key: CodeMirror closes brackets and quotes itself and steps over the
  // closing one when it is typed, so the text ends up exactly as written.
  await page.keyboard.type(text, { delay: 5 });
  await page.keyboard.press('Escape'); // closes an autocomplete popup, if any
  const typed = await editor.evaluate((element) => element.CodeMirror.getValue());
  if (typed !== text) throw new Error(`the editor holds ${JSON.stringify(typed)}, not ${JSON.stringify(text)}`);
}

let ok = false;
try {
  const token = await adminToken();
  const response = await page.goto(new URL('/graphql', base).href, { waitUntil: 'load' });
  if (response?.status() !== 200) throw new Error(`GET /graphql answered ${response?.status()}`);
  await page.locator('.graphiql-container').waitFor({ timeout: deadline });

  // The documentation explorer lists the root types once introspection has answered.
  await page.getByLabel('Show Documentation Explorer').click();
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first()
    .waitFor({ timeout: deadline });

  await typeInto('.graphiql-query-editor', 'query Browser { customers(first: 1) { totalCount } }');
  await page.getByText('Headers', { exact: true }).first().click();
  await typeInto('.graphiql-editor-tool', `{"Authorization": "Bearer ${token}"}`);
  await page.locator('.graphiql-execute-button').click();

  const result = page.locator('.result-window');
  await result.getByText('totalCount').waitFor({ timeout: deadline });
  const text = await result.innerText();
  if (!/"totalCount":\s*\d+/.test(text.replace(/\s+/g, ' '))) {
    throw new Error(`the result pane shows no count: ${text}`);
  }
  if (/UNAUTHENTICATED|FORBIDDEN/.test(text)) {
    throw new Error(`the header editor's token was not sent: ${text}`);
  }
  console.log(`result pane: ${text.replace(/\s+/g, ' ').trim()}`);
  ok = problems.length === 0;
} catch (error) {
  problems.push(String(error?.stack ?? error));
} finally {
  await page.screenshot({ path: screenshot, fullPage: true }).catch((error) =>
    problems.push(`screenshot failed: ${error}`),
  );
  await browser.close();
}

console.log(`hosts the page contacted: ${[...hosts].join(', ')}`);
console.log(`screenshot: ${screenshot}`);
if (!ok || problems.length > 0) {
  console.error(`FAIL: GraphiQL in Chromium:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('GraphiQL in Chromium: ok');
