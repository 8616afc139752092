//! GraphiQL, served whole by Clientele: the page and every file it loads are in the
//! binary (`api/assets/graphiql/`, fetched at pinned versions by its `fetch` script and
//! committed), so it works on a network with no way out, and its content security
//! policy names no other host.

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::graphql::error_body;
use crate::error::ErrorCode;

/// Scripts and styles from this server only; fonts and icons are `data:` URLs inside
/// the stylesheet; requests go to this server only. GraphiQL sets inline styles, hence
/// `'unsafe-inline'` for styles (never for scripts).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src data:; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &[u8] = include_bytes!("../../assets/graphiql/index.html");

/// A file the page loads.
struct Asset {
    name: &'static str,
    media: &'static str,
    /// Third-party files carry their version in the name: a browser may keep them.
    versioned: bool,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "graphiql-4.1.2.min.js",
        media: "text/javascript",
        versioned: true,
        bytes: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.js"),
    },
    Asset {
        name: "graphiql-4.1.2.min.css",
        media: "text/css",
        versioned: true,
        bytes: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.css"),
    },
    Asset {
        name: "react-18.3.1.production.min.js",
        media: "text/javascript",
        versioned: true,
        bytes: include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
    },
    Asset {
        name: "react-dom-18.3.1.production.min.js",
        media: "text/javascript",
        versioned: true,
        bytes: include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
    },
    Asset {
        name: "start.js",
        media: "text/javascript",
        versioned: false,
        bytes: include_bytes!("../../assets/graphiql/start.js"),
    },
    Asset {
        name: "page.css",
        media: "text/css",
        versioned: false,
        bytes: include_bytes!("../../assets/graphiql/page.css"),
    },
];

/// The page. Operations are executed by POST only: a GET that carries a query is
/// refused, so no link or image tag can run one.
pub async fn page(RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("query="))) {
        let mut response = error_body(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest,
            "operations are executed by POST /graphql",
            None,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let mut response = file(PAGE, "text/html; charset=utf-8", "no-cache");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// One of the page's files, or 404.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if asset.versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    file(asset.bytes, asset.media, cache)
}

fn file(bytes: &'static [u8], media: &'static str, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}
