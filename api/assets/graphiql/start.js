// Starts GraphiQL against the endpoint that served this page (its own path, so a proxy
// that mounts Clientele under a prefix keeps working). A file, not an inline script:
// the page's content security policy allows scripts from this server only.
// Headers typed in the header editor (an `Authorization: Bearer …` line) go with every
// request; they are not saved in the browser's storage unless the user asks.
'use strict';
const root = ReactDOM.createRoot(document.getElementById('graphiql'));
root.render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: window.location.pathname }),
    defaultEditorToolsVisibility: true,
    shouldPersistHeaders: false,
  }),
);
